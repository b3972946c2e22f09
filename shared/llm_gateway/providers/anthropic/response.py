"""An Anthropic ``Message`` -> an OpenAI ``chat.completion``.

- ``text`` blocks, joined -> ``message.content`` (``null`` when the answer is only tool calls).
- ``tool_use`` -> ``tool_calls`` with ``arguments`` as a JSON string (``"{}"`` for empty input); the call
  to the JSON-mode tool (see :mod:`.tools`) becomes ``content`` instead. A client that sent legacy
  ``functions`` gets ``function_call`` and ``finish_reason: function_call``, as OpenAI answers it.
- web-search citations on text -> ``annotations`` (``url_citation`` over the cited text's span).
- ``thinking`` -> ``reasoning_content`` (joined), and every thinking / redacted-thinking block, with its
  signature, in ``thinking_blocks`` so a client can send it back on the next turn (Anthropic needs it
  when thinking and tools mix).
- ``stop_reason`` -> ``finish_reason`` per :data:`FINISH_REASONS`.
- usage: ``prompt_tokens`` counts every input token, as OpenAI's does: ``input_tokens`` plus cache reads
  plus cache writes; ``prompt_tokens_details.cached_tokens`` = cache reads and ``cache_write_tokens`` =
  cache writes. Anthropic does not split out thinking tokens, so no ``reasoning_tokens`` is reported.
- ``id`` is ``chatcmpl-`` + Anthropic's message id (traceable in both systems); ``created`` comes from
  the gateway's clock (Anthropic sends none).
"""

from __future__ import annotations

import math
from typing import Any

import orjson

from llm_gateway.errors import UpstreamConnectionError
from llm_gateway.providers.anthropic.errors import map_error_event
from llm_gateway.providers.anthropic.tools import JsonMode, ResponsePlan
from llm_gateway.providers.base import ProviderCall

FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


def finish_reason(stop_reason: Any, *, called_tools: bool, legacy_functions: bool = False) -> str:
    if stop_reason == "tool_use" and not called_tools:
        return "stop"  # the only tool called was the JSON-mode tool
    if stop_reason is None:
        stop_reason = "tool_use" if called_tools else "end_turn"
    reason = FINISH_REASONS.get(str(stop_reason), "stop")
    return "function_call" if reason == "tool_calls" and legacy_functions else reason


def _count(usage: dict[str, Any], key: str) -> int:
    value = usage.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def map_usage(usage: dict[str, Any]) -> dict[str, Any]:
    cache_read = _count(usage, "cache_read_input_tokens")
    cache_write = _count(usage, "cache_creation_input_tokens")
    prompt = _count(usage, "input_tokens") + cache_read + cache_write
    completion = _count(usage, "output_tokens")
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cache_read, "cache_write_tokens": cache_write},
    }


def json_mode_content(tool_input: Any, mode: JsonMode) -> str:
    value = tool_input.get("values") if mode.wrapped and isinstance(tool_input, dict) else tool_input
    return orjson.dumps(value if value is not None else {}).decode()


def arguments_json(tool_input: Any) -> str:
    if not tool_input:
        return "{}"
    return orjson.dumps(tool_input).decode()


def url_citations(citations: Any, start: int, end: int) -> list[dict[str, Any]]:
    """Web-search citations on a text block -> OpenAI ``url_citation`` annotations over that text."""
    found = []
    for citation in citations if isinstance(citations, list) else []:
        if isinstance(citation, dict) and isinstance(citation.get("url"), str):
            detail = {"start_index": start, "end_index": end, "url": citation["url"]}
            detail["title"] = citation.get("title") if isinstance(citation.get("title"), str) else citation["url"]
            found.append({"type": "url_citation", "url_citation": detail})
    return found


def completion_id(message_id: Any, fallback: str) -> str:
    return f"chatcmpl-{message_id}" if isinstance(message_id, str) and message_id else f"chatcmpl-{fallback}"


def _bad(call: ProviderCall, what: str) -> UpstreamConnectionError:
    return UpstreamConnectionError(
        f"The upstream for model '{call.deployment.group}' sent {what}.", code="upstream_bad_response"
    )


def map_message(call: ProviderCall, data: Any, plan: ResponsePlan, now: float) -> dict[str, Any]:
    if isinstance(data, dict) and data.get("type") == "error":
        raise map_error_event(call, data)  # an error body under HTTP 200 (seen behind some proxies)
    if not isinstance(data, dict) or not isinstance(data.get("content"), list):
        raise _bad(call, "a response that is not an Anthropic message")
    json_mode = plan.json_mode
    texts: list[str] = []
    reasoning: list[str] = []
    thinking_blocks: list[dict[str, Any]] = []
    tool_calls: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for block in data["content"]:
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "text":
            text = str(block.get("text") or "")
            start = sum(len(t) for t in texts)
            annotations += url_citations(block.get("citations"), start, start + len(text))
            texts.append(text)
        elif kind == "tool_use" and json_mode is not None and block.get("name") == json_mode.tool_name:
            texts.append(json_mode_content(block.get("input"), json_mode))
        elif kind == "tool_use":
            tool_calls.append(
                {
                    "id": str(block.get("id")),
                    "type": "function",
                    "function": {"name": str(block.get("name")), "arguments": arguments_json(block.get("input"))},
                }
            )
        elif kind == "thinking":
            reasoning.append(str(block.get("thinking") or ""))
            thinking_blocks.append(
                {"type": "thinking", "thinking": block.get("thinking") or "", "signature": block.get("signature")}
            )
        elif kind == "redacted_thinking":
            thinking_blocks.append({"type": "redacted_thinking", "data": block.get("data")})
    text = "".join(texts)
    message: dict[str, Any] = {
        "role": "assistant",
        "content": text if text or not tool_calls else None,
        "refusal": None,
    }
    if tool_calls and plan.legacy_functions:
        message["function_call"] = tool_calls[0]["function"]
    elif tool_calls:
        message["tool_calls"] = tool_calls
    if annotations:
        message["annotations"] = annotations
    if reasoning:
        message["reasoning_content"] = "".join(reasoning)
    if thinking_blocks:
        message["thinking_blocks"] = thinking_blocks
    usage: dict[str, Any] = data["usage"] if isinstance(data.get("usage"), dict) else {}
    return {
        "id": completion_id(data.get("id"), call.request_id),
        "object": "chat.completion",
        "created": math.floor(now),
        "model": str(data.get("model") or call.deployment.model),
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": finish_reason(
                    data.get("stop_reason"), called_tools=bool(tool_calls), legacy_functions=plan.legacy_functions
                ),
            }
        ],
        "usage": map_usage(usage),
    }
