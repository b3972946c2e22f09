"""Native pass-through of ``/v1/responses`` to an OpenAI-compatible server that serves the Responses API
itself (a deployment with ``native: [responses]``): the client's body goes to ``{api_base}/responses``
untouched but for ``model``; the answer comes back as it was, beside its chat translation, which every
layer reads (usage for the ledger, the text for guardrails and the cache).

A stream's events pass through in order, each riding on a chat chunk that carries its delta. An
upstream ``error`` or ``response.failed`` event ends the stream as a gateway error (the client then gets
the gateway's own ``error`` and ``response.failed``, numbered after the upstream's events).
"""

from __future__ import annotations

from typing import Any

import orjson

from llm_gateway.errors import GatewayError, UpstreamConnectionError
from llm_gateway.providers.base import ProviderCall, StreamMapper, UpstreamHTTPRequest
from llm_gateway.schemas.native import NATIVE_FIELD, NativeRequest

_FINISH = {"max_output_tokens": "length", "content_filter": "content_filter"}


def native_request(
    call: ProviderCall, native: NativeRequest, base: str, headers: dict[str, str]
) -> UpstreamHTTPRequest:
    body = {**native.body, "model": call.deployment.model}
    return UpstreamHTTPRequest(url=f"{base}/responses", json=body, headers={**native.headers, **headers})


def chat_usage(usage: Any) -> dict[str, Any] | None:
    """A Responses ``usage`` in chat's shape (what the ledger and the limits read)."""
    if not isinstance(usage, dict):
        return None
    prompt, completion = int(usage.get("input_tokens") or 0), int(usage.get("output_tokens") or 0)
    cached = int((usage.get("input_tokens_details") or {}).get("cached_tokens") or 0)
    reasoning = int((usage.get("output_tokens_details") or {}).get("reasoning_tokens") or 0)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": int(usage.get("total_tokens") or prompt + completion),
        "prompt_tokens_details": {"cached_tokens": cached},
        "completion_tokens_details": {"reasoning_tokens": reasoning},
    }


def _finish_reason(response: dict[str, Any], called: bool) -> str:
    reason = (response.get("incomplete_details") or {}).get("reason")
    if response.get("status") == "incomplete" and reason in _FINISH:
        return _FINISH[reason]
    return "tool_calls" if called else "stop"


def _item_text(item: dict[str, Any], kinds: tuple[str, ...]) -> str:
    parts = [*(item.get("summary") or []), *(item.get("content") or [])]
    return "".join(str(p.get("text", "")) for p in parts if isinstance(p, dict) and p.get("type") in kinds)


def completion_from_response(call: ProviderCall, data: Any, now: float) -> dict[str, Any]:
    """The upstream's Response, and its chat translation around it."""
    if not isinstance(data, dict) or not isinstance(data.get("output"), list):
        raise UpstreamConnectionError(
            f"The upstream for model '{call.deployment.group}' sent a response that is not a Responses object.",
            code="upstream_bad_response",
        )
    output = [item for item in data["output"] if isinstance(item, dict)]
    text = "".join(_item_text(i, ("output_text",)) for i in output if i.get("type") == "message")
    reasoning = "".join(
        _item_text(i, ("summary_text", "reasoning_text")) for i in output if i.get("type") == "reasoning"
    )
    calls = [
        {
            "id": str(i.get("call_id")),
            "type": "function",
            "function": {"name": i.get("name"), "arguments": i.get("arguments")},
        }
        for i in output
        if i.get("type") == "function_call"
    ]
    message: dict[str, Any] = {"role": "assistant", "content": text or None}
    if reasoning:
        message["reasoning_content"] = reasoning
    if calls:
        message["tool_calls"] = calls
    completion: dict[str, Any] = {
        "id": str(data.get("id") or "resp"),
        "object": "chat.completion",
        "created": int(data.get("created_at") or now),
        "model": call.deployment.model,
        "choices": [
            {"index": 0, "message": message, "finish_reason": _finish_reason(data, bool(calls)), "logprobs": None}
        ],
        NATIVE_FIELD: data,
    }
    usage = chat_usage(data.get("usage"))
    if usage is not None:
        completion["usage"] = usage
    return completion


class ResponsesStreamMapper(StreamMapper):
    """The upstream's Responses events, each on a chat chunk carrying what it adds."""

    def __init__(self, call: ProviderCall, now: float) -> None:
        self.call = call
        self.created = int(now)
        self._calls: dict[int, int] = {}  # output_index -> tool-call index
        self._done = False

    @property
    def done(self) -> bool:
        return self._done

    def _chunk(self, event: dict[str, Any], delta: dict[str, Any] | None, **extra: Any) -> dict[str, Any]:
        choices = [{"index": 0, "delta": delta, "finish_reason": None, "logprobs": None}] if delta is not None else []
        return {
            "id": "resp-stream",
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.call.deployment.model,
            "choices": choices,
            NATIVE_FIELD: [event],
            **extra,
        }

    def _failed(self, event: dict[str, Any]) -> GatewayError:
        error = event.get("error") or (event.get("response") or {}).get("error") or event
        message = str(error.get("message") or "The upstream failed to generate the response.")
        return UpstreamConnectionError(
            f"The upstream for model '{self.call.deployment.group}' failed: {message[:500]}",
            code=str(error.get("code") or "upstream_error"),
        )

    def feed(self, event: str | None, data: str) -> list[dict[str, Any]]:
        if not data.strip() or data.strip() == "[DONE]":
            return []
        try:
            parsed = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise UpstreamConnectionError(
                f"The upstream for model '{self.call.deployment.group}' sent a malformed stream event.",
                code="upstream_bad_response",
            ) from None
        if not isinstance(parsed, dict):
            return []
        kind = parsed.get("type")
        if kind in ("error", "response.failed"):
            raise self._failed(parsed)
        return [self._map(kind, parsed)]

    def _map(self, kind: Any, event: dict[str, Any]) -> dict[str, Any]:
        if kind == "response.output_text.delta":
            return self._chunk(event, {"content": str(event.get("delta") or "")})
        if kind in ("response.reasoning_summary_text.delta", "response.reasoning_text.delta"):
            return self._chunk(event, {"reasoning_content": str(event.get("delta") or "")})
        item = event.get("item") or {}
        if kind == "response.output_item.added" and item.get("type") == "function_call":
            index = self._calls.setdefault(int(event.get("output_index") or 0), len(self._calls))
            call = {
                "index": index,
                "id": item.get("call_id"),
                "type": "function",
                "function": {"name": item.get("name"), "arguments": ""},
            }
            return self._chunk(event, {"tool_calls": [call]})
        if kind == "response.function_call_arguments.delta":
            index = self._calls.get(int(event.get("output_index") or 0), 0)
            fragment = {"index": index, "function": {"arguments": str(event.get("delta") or "")}}
            return self._chunk(event, {"tool_calls": [fragment]})
        if kind in ("response.completed", "response.incomplete"):
            self._done = True
            response = event.get("response") or {}
            chunk = self._chunk(event, {})
            chunk["choices"][0]["finish_reason"] = _finish_reason(response, bool(self._calls))
            usage = chat_usage(response.get("usage"))
            if usage is not None:
                chunk["usage"] = usage
            return chunk
        return self._chunk(event, None)

    def finish(self) -> list[dict[str, Any]]:
        if not self._done:
            raise UpstreamConnectionError(
                f"The upstream stream for model '{self.call.deployment.group}' ended before the response completed.",
                code="upstream_stream_cut",
            )
        return []
