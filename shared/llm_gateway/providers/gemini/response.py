"""Gemini ``GenerateContentResponse`` -> OpenAI ``chat.completion``; pieces shared with the stream mapper.

- Each candidate becomes a choice (``index`` kept). Text parts are joined into ``content``; parts with
  ``thought: true`` go to ``reasoning_content``; ``functionCall`` parts become ``tool_calls`` with
  gateway-made ids (:mod:`.toolids`) and ``arguments`` as a JSON string (``"{}"`` when empty).
- ``parallel_tool_calls: false`` keeps the first call only (Gemini cannot be told); Vertex's streamed
  arguments (``partialArgs``) are joined into whole calls; a call without a name is a 502.
- finish_reason: see :data:`FINISH_REASONS`; ``STOP`` with a function call is ``tool_calls``.
  ``MALFORMED_FUNCTION_CALL`` (and the other failed-tool-call reasons) are a 502 ``upstream_bad_tool_call``
  rather than an empty ``stop``: the answer is unusable and another attempt usually succeeds.
- A blocked prompt (``promptFeedback.blockReason``, no candidates) is a normal completion with
  ``finish_reason: content_filter``, ``content: null`` and a ``refusal`` saying why, the way OpenAI
  reports filtered output (a client can tell it apart from a failure and nothing is retried).
- usage: prompt = promptTokenCount (includes cached), completion = candidates + thoughts,
  ``reasoning_tokens`` = thoughts, ``cached_tokens`` = cachedContentTokenCount.
"""

from __future__ import annotations

from typing import Any

import orjson

from llm_gateway.errors import UpstreamConnectionError, UpstreamStatusError
from llm_gateway.ids import random_hex
from llm_gateway.providers.base import ProviderCall
from llm_gateway.providers.gemini.errors import error_from_payload
from llm_gateway.providers.gemini.partial_calls import PartialCall, is_streamed_piece
from llm_gateway.providers.gemini.toolids import new_tool_call_id

FINISH_REASONS: dict[str, str] = {
    "STOP": "stop",
    "FINISH_REASON_UNSPECIFIED": "stop",
    "OTHER": "stop",
    "NO_IMAGE": "stop",
    "IMAGE_OTHER": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "LANGUAGE": "content_filter",
    "IMAGE_SAFETY": "content_filter",
    "IMAGE_PROHIBITED_CONTENT": "content_filter",
    "IMAGE_RECITATION": "content_filter",
}
FAILED_TOOL_CALL = frozenset({"MALFORMED_FUNCTION_CALL", "UNEXPECTED_TOOL_CALL", "TOO_MANY_TOOL_CALLS"})


def completion_id(data: dict[str, Any]) -> str:
    response_id = data.get("responseId")
    if isinstance(response_id, str) and response_id:
        return f"chatcmpl-{response_id}"
    return f"chatcmpl-{random_hex(96)}"


def model_name(call: ProviderCall, data: dict[str, Any]) -> str:
    version = data.get("modelVersion")
    return version if isinstance(version, str) and version else call.deployment.model


def bad_response(call: ProviderCall, what: str) -> UpstreamConnectionError:
    return UpstreamConnectionError(
        f"The upstream for model '{call.deployment.group}' sent {what}.", code="upstream_bad_response"
    )


def finish_reason(call: ProviderCall, reason: str, *, has_tool_calls: bool, message: str | None = None) -> str:
    if reason in FAILED_TOOL_CALL:
        detail = f": {message[:300]}" if message else ""
        raise UpstreamStatusError(
            f"The upstream for model '{call.deployment.group}' produced an invalid function call ({reason}){detail}",
            upstream_status=502,
            status_code=502,
            code="upstream_bad_tool_call",
        )
    mapped = FINISH_REASONS.get(reason, "stop")
    return "tool_calls" if mapped == "stop" and has_tool_calls else mapped


def block_refusal(feedback: dict[str, Any]) -> str:
    reason = feedback.get("blockReason") or "OTHER"
    message = feedback.get("blockReasonMessage")
    text = f"The prompt was blocked by the upstream's content filter (reason: {reason})."
    return f"{text} {message}" if isinstance(message, str) and message else text


def tool_call(part: dict[str, Any], response_id: str | None, candidate: int, position: int) -> dict[str, Any]:
    call = part["functionCall"]
    args = call.get("args")
    signature = part.get("thoughtSignature")
    return {
        "id": new_tool_call_id(
            response_id,
            candidate,
            position,
            gemini_id=call.get("id") if isinstance(call.get("id"), str) else None,
            thought_signature=signature if isinstance(signature, str) else None,
        ),
        "type": "function",
        "function": {
            "name": str(call.get("name", "")),
            "arguments": orjson.dumps(args).decode() if args else "{}",
        },
    }


def logprobs(result: Any) -> dict[str, Any] | None:
    """Gemini ``logprobsResult`` -> OpenAI ``choice.logprobs``."""
    if not isinstance(result, dict):
        return None
    chosen = result.get("chosenCandidates") or []
    tops = result.get("topCandidates") or []
    content = []
    for position, entry in enumerate(chosen):
        top = tops[position].get("candidates", []) if position < len(tops) else []
        content.append(
            {
                **_token(entry),
                "top_logprobs": [_token(alt) for alt in top],
            }
        )
    return {"content": content, "refusal": None}


def _token(entry: dict[str, Any]) -> dict[str, Any]:
    token = str(entry.get("token", ""))
    return {"token": token, "logprob": float(entry.get("logProbability", 0.0)), "bytes": list(token.encode())}


def usage(metadata: Any) -> dict[str, Any] | None:
    if not isinstance(metadata, dict):
        return None
    prompt = int(metadata.get("promptTokenCount") or 0)
    thoughts = int(metadata.get("thoughtsTokenCount") or 0)
    completion = int(metadata.get("candidatesTokenCount") or 0) + thoughts
    tool_prompt = int(metadata.get("toolUsePromptTokenCount") or 0)
    total = int(metadata.get("totalTokenCount") or (prompt + completion + tool_prompt))
    return {
        "prompt_tokens": prompt + tool_prompt,
        "completion_tokens": completion,
        "total_tokens": total,
        "prompt_tokens_details": {"cached_tokens": int(metadata.get("cachedContentTokenCount") or 0)},
        "completion_tokens_details": {"reasoning_tokens": thoughts},
    }


def parse_completion(call: ProviderCall, data: Any, created: int) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise bad_response(call, "a response that is not a JSON object")
    if "error" in data and "candidates" not in data:
        raise error_from_payload(call, data, status=None)
    response_id = data.get("responseId") if isinstance(data.get("responseId"), str) else None
    candidates = data.get("candidates")
    choices: list[dict[str, Any]] = []
    if isinstance(candidates, list) and candidates:
        for position, candidate in enumerate(candidates):
            if not isinstance(candidate, dict):
                raise bad_response(call, "a malformed candidate")
            choices.append(_choice(call, candidate, position, response_id))
    else:
        feedback = data.get("promptFeedback")
        if not isinstance(feedback, dict) or not feedback.get("blockReason"):
            raise bad_response(call, "a response without candidates")
        choices.append(
            {
                "index": 0,
                "message": {"role": "assistant", "content": None, "refusal": block_refusal(feedback)},
                "logprobs": None,
                "finish_reason": "content_filter",
            }
        )
    out: dict[str, Any] = {
        "id": completion_id(data),
        "object": "chat.completion",
        "created": created,
        "model": model_name(call, data),
        "choices": sorted(choices, key=lambda c: c["index"]),
    }
    mapped_usage = usage(data.get("usageMetadata"))
    if mapped_usage is not None:
        out["usage"] = mapped_usage
    return out


def _choice(call: ProviderCall, candidate: dict[str, Any], position: int, response_id: str | None) -> dict[str, Any]:
    index = candidate.get("index", position)
    index = index if isinstance(index, int) else position
    text: list[str] = []
    thoughts: list[str] = []
    calls: list[dict[str, Any]] = []
    pending: PartialCall | None = None
    for part in (candidate.get("content") or {}).get("parts") or []:
        if not isinstance(part, dict):
            continue
        if "functionCall" in part and isinstance(part["functionCall"], dict):
            whole = part
            if pending is not None or is_streamed_piece(part):
                pending = pending or PartialCall()
                pending.add(part)
                if part["functionCall"].get("willContinue"):
                    continue
                whole, pending = pending.as_part(), None
            calls.append(tool_call(whole, response_id, index, len(calls)))
        elif isinstance(part.get("text"), str):
            (thoughts if part.get("thought") else text).append(part["text"])
    if pending is not None:
        calls.append(tool_call(pending.as_part(), response_id, index, len(calls)))
    if any(not c["function"]["name"] for c in calls):
        raise bad_response(call, "a function call without a name")
    if call.body.get("parallel_tool_calls") is False:
        calls = calls[:1]  # Gemini has no such switch: the first call is the answer
    reason = finish_reason(
        call,
        str(candidate.get("finishReason") or "STOP"),
        has_tool_calls=bool(calls),
        message=candidate.get("finishMessage"),
    )
    message: dict[str, Any] = {
        "role": "assistant",
        "content": "".join(text) if text or not calls else None,
        "refusal": None,
    }
    if calls:
        message["tool_calls"] = calls
    if thoughts:
        message["reasoning_content"] = "".join(thoughts)
    return {
        "index": index,
        "message": message,
        "logprobs": logprobs(candidate.get("logprobsResult")),
        "finish_reason": reason,
    }
