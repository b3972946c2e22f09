"""Checks on what an OpenAI-compatible upstream sends: errors and garbage stop here; chunks and bodies go
on in OpenAI's exact shape (see :mod:`.normalise`)."""

from __future__ import annotations

import math
from typing import Any

import orjson

from llm_gateway.errors import GatewayError, UpstreamConnectionError, UpstreamStatusError
from llm_gateway.ids import random_hex
from llm_gateway.providers.base import ProviderCall, StreamMapper
from llm_gateway.providers.openai_compat.errors import scrub
from llm_gateway.providers.openai_compat.normalise import ChunkNormaliser, normalise_completion


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


def _fallback_id(call: ProviderCall) -> str:
    return f"chatcmpl-{call.request_id or random_hex(96)}"


def check_completion(call: ProviderCall, data: Any, now: float) -> dict[str, Any]:
    """A 200 body must be a chat completion; an ``{"error": ...}`` body is an upstream failure."""
    if not isinstance(data, dict):
        raise _bad(call, "a response that is not a JSON object")
    if "error" in data and data.get("error") and "choices" not in data:
        raise _error_in_body(call, data["error"])
    if not isinstance(data.get("choices"), list):
        raise _bad(call, "a response without 'choices'")
    return normalise_completion(data, _fallback_id(call), call.deployment.model, math.floor(now))


class OpenAIStreamMapper(StreamMapper):
    """Pass chunks through; stop at ``[DONE]``; refuse error frames, non-JSON frames and early ends."""

    def __init__(self, call: ProviderCall, now: float) -> None:
        self.call = call
        self._normaliser = ChunkNormaliser(_fallback_id(call), call.deployment.model, math.floor(now))
        self._done = False
        self._finished: set[int] = set()
        self._choices: set[int] = set()

    @property
    def done(self) -> bool:
        return self._done

    def feed(self, event: str | None, data: str) -> list[dict[str, Any]]:
        if data.strip() == "[DONE]":
            self._done = True
            return self._normaliser.finish()
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
        if choices is None and isinstance(chunk.get("usage"), dict):
            choices = chunk["choices"] = []  # a usage report with "choices": null, or none at all
        if not isinstance(choices, list):
            raise _bad(self.call, "a stream frame without 'choices'")
        for choice in choices:
            if not isinstance(choice, dict):
                raise _bad(self.call, "a stream frame with a malformed choice")
            index = choice.get("index", 0)
            if isinstance(index, int):
                self._choices.add(index)
                if choice.get("finish_reason"):
                    self._finished.add(index)
        return self._normaliser.feed(chunk)

    def finish(self) -> list[dict[str, Any]]:
        # No [DONE]: fine only if every choice already finished; otherwise the stream was cut.
        if self._done:
            return []
        if self._choices and self._choices <= self._finished:
            return self._normaliser.finish()
        raise UpstreamConnectionError(
            f"The upstream stream for model '{self.call.deployment.group}' ended before the answer was complete.",
            code="upstream_stream_cut",
        )
