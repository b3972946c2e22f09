"""A Messages stream in Anthropic's event format.

A native answer's chunks carry the upstream's own events (:data:`~llm_gateway.schemas.native.NATIVE_FIELD`),
which are sent as they came. Otherwise :class:`ChatToEvents` turns chat chunks into the event sequence:
``message_start``, ``ping``, per block ``content_block_start`` / ``content_block_delta`` (``text_delta``,
``thinking_delta``, ``signature_delta``, ``input_json_delta``) / ``content_block_stop``, then
``message_delta`` (``stop_reason``, usage) and ``message_stop``. While the upstream is silent a ``ping``
event keeps the connection alive; a failure after the first byte is an ``error`` event, never a silent cut.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson

from llm_gateway.core.context import RequestContext
from llm_gateway.core.pipeline import OpenedStream
from llm_gateway.core.streaming import UpstreamChunks
from llm_gateway.core.usage import StreamUsageMeter
from llm_gateway.errors import GatewayError, internal_error
from llm_gateway.messages.errors import error_body
from llm_gateway.messages.from_chat import as_dict, stop_reason, usage_of
from llm_gateway.schemas.native import NATIVE_FIELD

log = logging.getLogger("llm_gateway.messages")

PING = {"type": "ping"}


def event(payload: dict[str, Any]) -> bytes:
    return b"event: " + str(payload.get("type")).encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


class ChatToEvents:
    """Per-stream state: chat chunks in, Anthropic events out."""

    def __init__(self, message_id: str, model: str, input_tokens: int) -> None:
        self.message_id, self.model, self.input_tokens = message_id, model, input_tokens
        self.index = -1
        self.kind: str | None = None  # the open block's type
        self.tools: dict[int, int] = {}  # chat tool call index -> block index
        self.finish: Any = None
        self.usage: Any = None

    def start(self) -> list[dict[str, Any]]:
        message: dict[str, Any] = {
            "id": self.message_id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": self.input_tokens, "output_tokens": 0},
        }
        return [{"type": "message_start", "message": message}, PING]

    def _close(self) -> list[dict[str, Any]]:
        if self.kind is None:
            return []
        self.kind = None
        return [{"type": "content_block_stop", "index": self.index}]

    def _open(self, block: dict[str, Any]) -> list[dict[str, Any]]:
        out = self._close()
        self.index += 1
        self.kind = str(block["type"])
        return [*out, {"type": "content_block_start", "index": self.index, "content_block": block}]

    def _delta(self, delta: dict[str, Any], index: int | None = None) -> dict[str, Any]:
        return {"type": "content_block_delta", "index": self.index if index is None else index, "delta": delta}

    def feed(self, chunk: dict[str, Any]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        if isinstance(chunk.get("usage"), dict):
            self.usage = chunk["usage"]
        for choice in chunk.get("choices") or ():
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = as_dict(choice.get("delta"))
            out.extend(self._thinking(delta))
            text = delta.get("content")
            if isinstance(text, str) and text:
                if self.kind != "text":
                    out.extend(self._open({"type": "text", "text": ""}))
                out.append(self._delta({"type": "text_delta", "text": text}))
            for call in delta.get("tool_calls") or ():
                out.extend(self._tool(call))
            if choice.get("finish_reason") is not None:
                self.finish = choice["finish_reason"]
        return out

    def _thinking(self, delta: dict[str, Any]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        reasoning = delta.get("reasoning_content")
        if isinstance(reasoning, str) and reasoning:
            if self.kind != "thinking":
                out.extend(self._open({"type": "thinking", "thinking": "", "signature": ""}))
            out.append(self._delta({"type": "thinking_delta", "thinking": reasoning}))
        for block in delta.get("thinking_blocks") or ():
            signature = block.get("signature") if isinstance(block, dict) else None
            if isinstance(signature, str) and signature and block.get("type") == "thinking":
                if self.kind != "thinking":
                    out.extend(self._open({"type": "thinking", "thinking": "", "signature": ""}))
                out.append(self._delta({"type": "signature_delta", "signature": signature}))
        return out

    def _tool(self, call: Any) -> list[dict[str, Any]]:
        if not isinstance(call, dict):
            return []
        out: list[dict[str, Any]] = []
        position = call.get("index", 0)
        function = as_dict(call.get("function"))
        if position not in self.tools:
            block = {
                "type": "tool_use",
                "id": str(call.get("id") or ""),
                "name": str(function.get("name") or ""),
                "input": {},
            }
            out.extend(self._open(block))
            self.tools[position] = self.index
        arguments = function.get("arguments")
        if isinstance(arguments, str) and arguments:
            out.append(self._delta({"type": "input_json_delta", "partial_json": arguments}, self.tools[position]))
        return out

    def end(self, usage: dict[str, Any]) -> list[dict[str, Any]]:
        counts = usage_of(usage)
        delta = {"stop_reason": stop_reason(self.finish), "stop_sequence": None}
        return [*self._close(), {"type": "message_delta", "delta": delta, "usage": counts}, {"type": "message_stop"}]


def _named(events: list[dict[str, Any]], model: str) -> list[dict[str, Any]]:
    """Native events with the model named as the client knows it. Claude Code keeps earlier thinking only
    while the answering model stays the one it asked for (a thinking signature is bound to its model)."""
    return [
        {**e, "message": {**e["message"], "model": model}}
        if e.get("type") == "message_start" and isinstance(e.get("message"), dict)
        else e
        for e in events
    ]


async def message_events(
    opened: OpenedStream,
    ctx: RequestContext,
    translate: ChatToEvents,
    *,
    heartbeat: float,
    prompt_tokens: Callable[[], int],
) -> AsyncIterator[bytes]:
    """The SSE body of a Messages stream (the usage it reports lands in ``ctx.usage``, as chat's does)."""
    chunks = UpstreamChunks(opened, ctx, heartbeat)
    meter = StreamUsageMeter(prompt_tokens)
    native = NATIVE_FIELD in opened.first
    chunk: dict[str, Any] | None = opened.first
    try:
        if not native:
            for payload in translate.start():
                yield event(payload)
        while True:
            if chunk is None:
                yield event(PING)
            else:
                if ctx.first_token_at is None:
                    ctx.first_token_at = ctx.monotonic()
                meter.observe(chunk)
                payloads = _named(chunk.get(NATIVE_FIELD) or [], translate.model) if native else translate.feed(chunk)
                for payload in payloads:
                    yield event(payload)
            try:
                chunk = await chunks.next()
            except StopAsyncIteration:
                break
        if not native:
            for payload in translate.end(meter.usage()[0]):
                yield event(payload)
        ctx.note("stream_status", "complete")
    except GatewayError as error:
        ctx.note("stream_status", "error")
        ctx.note("error_code", error.code)
        log.warning("messages stream failed after first byte: %r", error)
        yield event(error_body(error))
    except (asyncio.CancelledError, GeneratorExit):
        ctx.note("stream_status", "client_disconnected")
        raise
    except Exception:
        ctx.note("stream_status", "error")
        log.exception("messages stream failed with an internal error")
        yield event(error_body(internal_error()))
    finally:
        ctx.usage, estimated = meter.usage()
        if estimated:
            ctx.note("usage_estimated", True)
        await chunks.aclose()
