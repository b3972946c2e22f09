"""Checks on what an OpenAI-compatible upstream sends: chunks pass through, errors and garbage do not."""

from __future__ import annotations

from typing import Any

import orjson

from llm_gateway.errors import GatewayError, UpstreamConnectionError, UpstreamStatusError
from llm_gateway.providers.base import ProviderCall, StreamMapper
from llm_gateway.providers.openai_compat.errors import scrub


def _bad(call: ProviderCall, what: str) -> UpstreamConnectionError:
    return UpstreamConnectionError(
        f"The upstream for model '{call.deployment.group}' sent {what}.", code="upstream_bad_response"
    )


def _error_in_body(call: ProviderCall, error: Any) -> GatewayError:
    message = error.get("message") if isinstance(error, dict) else error
    text = scrub(str(message), call.api_key) if message else "an error"
    code = error.get("code") if isinstance(error, dict) and isinstance(error.get("code"), str) else None
    return UpstreamStatusError(
        f"The upstream for model '{call.deployment.group}' reported an error: {text}",
        upstream_status=502,
        status_code=502,
        code=code or "upstream_error",
    )


# Fields OpenAI omits rather than sends as null; some servers (llama.cpp's Python server, older vLLM)
# send `"tool_calls": null`, which strict clients and OpenAI's own schema reject.
_OMIT_WHEN_NULL = ("tool_calls", "function_call", "role")


def _drop_nulls(obj: dict[str, Any]) -> None:
    for key in _OMIT_WHEN_NULL:
        if key in obj and obj[key] is None:
            del obj[key]


def check_completion(call: ProviderCall, data: Any) -> dict[str, Any]:
    """A 200 body must be a chat completion; an ``{"error": ...}`` body is an upstream failure."""
    if not isinstance(data, dict):
        raise _bad(call, "a response that is not a JSON object")
    if "error" in data and data.get("error") and "choices" not in data:
        raise _error_in_body(call, data["error"])
    choices = data.get("choices")
    if not isinstance(choices, list):
        raise _bad(call, "a response without 'choices'")
    data.setdefault("object", "chat.completion")
    for choice in choices:
        if isinstance(choice, dict):
            choice.setdefault("logprobs", None)
            message = choice.get("message")
            if isinstance(message, dict):
                message.setdefault("role", "assistant")
                message.setdefault("content", None)
                message.setdefault("refusal", None)
                _drop_nulls(message)
    return data


class OpenAIStreamMapper(StreamMapper):
    """Pass chunks through; stop at ``[DONE]``; refuse error frames, non-JSON frames and early ends."""

    def __init__(self, call: ProviderCall) -> None:
        self.call = call
        self._done = False
        self._finished: set[int] = set()
        self._choices: set[int] = set()

    @property
    def done(self) -> bool:
        return self._done

    def feed(self, event: str | None, data: str) -> list[dict[str, Any]]:
        if data.strip() == "[DONE]":
            self._done = True
            return []
        if not data.strip():
            return []
        try:
            chunk = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise _bad(self.call, "a malformed stream frame") from None
        if not isinstance(chunk, dict):
            raise _bad(self.call, "a stream frame that is not a JSON object")
        if event == "error" or ("error" in chunk and "choices" not in chunk):
            raise _error_in_body(self.call, chunk.get("error", chunk))
        choices = chunk.get("choices")
        if not isinstance(choices, list):
            raise _bad(self.call, "a stream frame without 'choices'")
        chunk.setdefault("object", "chat.completion.chunk")
        for choice in choices:
            if not isinstance(choice, dict):
                raise _bad(self.call, "a stream frame with a malformed choice")
            index = choice.get("index", 0)
            if isinstance(index, int):
                self._choices.add(index)
                if choice.get("finish_reason"):
                    self._finished.add(index)
            delta = choice.setdefault("delta", {})
            if isinstance(delta, dict):
                _drop_nulls(delta)
            choice.setdefault("finish_reason", None)
        return [chunk]

    def finish(self) -> list[dict[str, Any]]:
        # No [DONE]: fine only if every choice already finished; otherwise the stream was cut.
        if self._done or (self._choices and self._choices <= self._finished):
            return []
        raise UpstreamConnectionError(
            f"The upstream stream for model '{self.call.deployment.group}' ended before the answer was complete.",
            code="upstream_stream_cut",
        )
