"""A response's SSE body: ``event: <type>`` and ``data: <event>`` for each Responses stream event.

The upstream is read as chat streams are (:class:`~llm_gateway.core.streaming.UpstreamChunks`: the
deadline, a ``: ping`` comment while it is silent, a clean close when the client leaves); the chunks
become events (:mod:`.events`). A failure after the first byte ends the stream with an ``error`` event
and ``response.failed``, never a silent cut.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson

from llm_gateway.core.context import RequestContext
from llm_gateway.core.pipeline import OpenedStream
from llm_gateway.core.streaming import PING, UpstreamChunks
from llm_gateway.core.tokens import estimate_prompt_tokens
from llm_gateway.core.usage import StreamUsageMeter
from llm_gateway.errors import GatewayError, internal_error
from llm_gateway.responses.events import ResponseEvents
from llm_gateway.responses.output import Envelope
from llm_gateway.schemas.native import NATIVE_FIELD

log = logging.getLogger("llm_gateway.responses")


def encode(event: dict[str, Any]) -> bytes:
    return b"event: " + str(event["type"]).encode() + b"\ndata: " + orjson.dumps(event) + b"\n\n"


class _Translation:
    """Chat chunks as Responses events; a natively answered stream's chunks carry the upstream's own."""

    def __init__(self, events: ResponseEvents, native: bool, model: str) -> None:
        self.events = events
        self.native = native
        self.model = model

    def start(self) -> list[dict[str, Any]]:
        return [] if self.native else self.events.start()

    def chunk(self, chunk: dict[str, Any]) -> list[dict[str, Any]]:
        if not self.native:
            return self.events.feed(chunk)
        native: list[dict[str, Any]] = []
        for given in chunk.get(NATIVE_FIELD) or ():
            event = given
            if isinstance(event.get("response"), dict):  # the model group the client asked for, as in JSON
                event = {**event, "response": {**event["response"], "model": self.model}}
            self.events.follow(event)
            native.append(event)
        return native

    def end(self, usage: dict[str, Any]) -> list[dict[str, Any]]:
        return [] if self.native else self.events.end(usage)


async def response_stream(
    opened: OpenedStream,
    ctx: RequestContext,
    envelope: Envelope,
    chat_body: dict[str, Any],
    *,
    heartbeat: float,
    clock: Callable[[], float],
    on_done: Callable[[dict[str, Any]], Awaitable[None]],
) -> AsyncIterator[bytes]:
    events = ResponseEvents(envelope, clock)
    translation = _Translation(events, native=NATIVE_FIELD in opened.first, model=envelope.request.model)
    chunks = UpstreamChunks(opened, ctx, heartbeat)
    meter = StreamUsageMeter(lambda: estimate_prompt_tokens(chat_body))
    chunk: dict[str, Any] | None = opened.first
    try:
        for event in translation.start():
            yield encode(event)
        while True:
            if chunk is None:
                yield PING
            else:
                if ctx.first_token_at is None:
                    ctx.first_token_at = ctx.monotonic()
                meter.observe(chunk)
                for event in translation.chunk(chunk):
                    yield encode(event)
            try:
                chunk = await chunks.next()
            except StopAsyncIteration:
                break
        for event in translation.end(meter.usage()[0]):
            yield encode(event)
        ctx.note("stream_status", "complete")
        if events.final is not None:
            await on_done(events.final)
    except GatewayError as error:
        ctx.note("stream_status", "error")
        ctx.note("error_code", error.code)
        log.warning("response stream failed after first byte: %r", error)
        for event in events.fail(error):
            yield encode(event)
    except (asyncio.CancelledError, GeneratorExit):
        ctx.note("stream_status", "client_disconnected")
        raise
    except Exception:
        ctx.note("stream_status", "error")
        log.exception("response stream failed with an internal error")
        for event in events.fail(internal_error()):
            yield encode(event)
    finally:
        ctx.usage, estimated = meter.usage()
        if estimated:
            ctx.note("usage_estimated", True)
        await chunks.aclose()
