"""A Messages request passed through to Claude untouched (Anthropic's API, or Bedrock's Anthropic body).

The client's body goes as it came but for ``model`` (and ``stream``); the answer comes back as it came,
under :data:`~llm_gateway.schemas.native.NATIVE_FIELD`, beside its chat translation (the same mapping as
a chat request's: :func:`.response.map_message`, :class:`.stream.AnthropicStreamMapper`), which is what
the layers read: usage for the ledger (cache reads as ``cached_tokens``, writes as ``cache_write_tokens``),
the cache, guardrails on the way out.
"""

from __future__ import annotations

from typing import Any

import orjson

from llm_gateway.errors import UpstreamConnectionError
from llm_gateway.providers.anthropic.response import map_message
from llm_gateway.providers.anthropic.stream import AnthropicStreamMapper
from llm_gateway.providers.anthropic.tools import ResponsePlan
from llm_gateway.providers.base import ProviderCall, StreamMapper
from llm_gateway.schemas.native import NATIVE_FIELD, NativeRequest


def native_body(native: NativeRequest, *, model: str | None, stream: bool) -> dict[str, Any]:
    """The client's body for the upstream: its ``model`` (``None``: left out, as Bedrock wants) and ``stream``."""
    body = {k: v for k, v in native.body.items() if k not in ("model", "stream")}
    if model is not None:
        body["model"] = model
    if stream:
        body["stream"] = True
    return body


def betas(native: NativeRequest, configured: tuple[str, ...] = ()) -> list[str]:
    """The client's ``anthropic-beta`` values, then the deployment's own, each once."""
    given = [part.strip() for part in native.headers.get("anthropic-beta", "").split(",") if part.strip()]
    return list(dict.fromkeys([*given, *configured]))


COUNTED_FIELDS = frozenset({"model", "messages", "system", "tools", "tool_choice", "thinking", "mcp_servers"})
"""What Anthropic's ``/v1/messages/count_tokens`` takes of a Messages body."""


def counted(call: ProviderCall, data: Any, field: str) -> int:
    """The token count in an upstream's count answer."""
    value = data.get(field) if isinstance(data, dict) else None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise UpstreamConnectionError(
            f"The upstream for model '{call.deployment.group}' sent a token count without '{field}'.",
            code="upstream_bad_response",
        )
    return value


def native_answer(call: ProviderCall, data: Any, now: float) -> dict[str, Any]:
    """The chat view of a Messages answer, carrying the answer itself."""
    answer = map_message(call, data, ResponsePlan(), now)
    answer[NATIVE_FIELD] = data
    return answer


class NativeEvents(StreamMapper):
    """Anthropic's stream events in, chat chunks out, each event riding on the chunk it became (or on a
    chunk with no choices, for events that make no chat delta: ``ping``, ``content_block_stop``...)."""

    def __init__(self, call: ProviderCall, now: float) -> None:
        self.inner = AnthropicStreamMapper(call, ResponsePlan(), now)

    @property
    def done(self) -> bool:
        return self.inner.done

    def feed(self, event: str | None, data: str) -> list[dict[str, Any]]:
        chunks = self.inner.feed(event, data)  # raises for an error event or a malformed frame
        if not data.strip():
            return chunks
        payload = orjson.loads(data)
        return self._carry(chunks, [payload])

    def feed_payload(self, payload: dict[str, Any]) -> list[dict[str, Any]]:
        """An event already decoded (Bedrock's ``chunk.bytes``)."""
        return self.feed(str(payload.get("type")), orjson.dumps(payload).decode())

    def _carry(self, chunks: list[dict[str, Any]], events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if not chunks:
            state = self.inner.state
            empty = {"id": state.id, "object": "chat.completion.chunk", "created": state.created, "model": state.model}
            return [{**empty, "choices": [], NATIVE_FIELD: events}]
        return [{**chunk, NATIVE_FIELD: events if position == 0 else []} for position, chunk in enumerate(chunks)]

    def finish(self) -> list[dict[str, Any]]:
        return [{**chunk, NATIVE_FIELD: []} for chunk in self.inner.finish()]
