"""Turn an opened upstream stream into the SSE bytes the client receives.

Each chunk is written as soon as it arrives. The stream always ends in one of two ways: ``data: [DONE]``
after a complete answer, or a ``data: {"error": ...}`` frame when something failed after the first byte
(never a silent truncation). While the upstream is silent, an SSE comment (``: ping``) keeps proxies and
API Gateway's idle timer from cutting the connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson

from llm_gateway.core.context import RequestContext
from llm_gateway.core.pipeline import OpenedStream
from llm_gateway.core.usage import StreamUsageMeter
from llm_gateway.errors import GatewayError, UpstreamTimeoutError, internal_error

log = logging.getLogger("llm_gateway.stream")

DONE = b"data: [DONE]\n\n"
PING = b": ping\n\n"


def encode_event(payload: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\n\n"


def error_event(error: GatewayError) -> bytes:
    return encode_event(error.to_dict())


class _Chunks:
    """Iterate the upstream with a heartbeat: yields ``None`` when the upstream stayed silent too long."""

    def __init__(self, opened: OpenedStream, ctx: RequestContext, heartbeat: float) -> None:
        self.opened = opened
        self.ctx = ctx
        self.heartbeat = heartbeat
        self._pending: asyncio.Future[dict[str, Any]] | None = None

    async def next(self) -> dict[str, Any] | None:
        remaining = self.ctx.remaining()
        if remaining <= 0:
            raise UpstreamTimeoutError("The request reached its deadline before the answer was complete.")
        if not self.heartbeat:
            try:
                async with asyncio.timeout(remaining):
                    return await anext(self.opened.rest)
            except TimeoutError:
                raise UpstreamTimeoutError("The request reached its deadline before the answer was complete.") from None
        if self._pending is None:
            self._pending = asyncio.ensure_future(anext(self.opened.rest))
        done, _ = await asyncio.wait({self._pending}, timeout=min(self.heartbeat, remaining))
        if not done:
            return None
        pending, self._pending = self._pending, None
        return pending.result()

    async def aclose(self) -> None:
        if self._pending is not None:
            self._pending.cancel()
            with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration, Exception):
                await self._pending
            self._pending = None
        await self.opened.aclose()


async def sse_stream(
    opened: OpenedStream,
    ctx: RequestContext,
    *,
    include_usage: bool,
    heartbeat: float,
    prompt_tokens: Callable[[], int] = lambda: 0,
    on_chunk: Any = None,
) -> AsyncIterator[bytes]:
    """The SSE body. ``on_chunk(chunk)`` sees every upstream chunk (for the cache and usage)."""
    chunks = _Chunks(opened, ctx, heartbeat)
    meter = StreamUsageMeter(prompt_tokens)
    chunk: dict[str, Any] | None = opened.first
    try:
        while True:
            if chunk is None:
                yield PING
            else:
                if ctx.first_token_at is None:
                    ctx.first_token_at = ctx.monotonic()
                if on_chunk is not None:
                    on_chunk(chunk)
                meter.observe(chunk)
                if include_usage:
                    yield encode_event(chunk)
                elif chunk.get("choices"):
                    if "usage" in chunk:
                        chunk = {k: v for k, v in chunk.items() if k != "usage"}
                    yield encode_event(chunk)
            try:
                chunk = await chunks.next()
            except StopAsyncIteration:
                break
        if include_usage and meter.reported is None:
            yield encode_event(meter.usage_chunk())  # the upstream sent none: an estimate beats nothing
        yield DONE
        ctx.notes["stream_status"] = "complete"
    except GatewayError as error:
        ctx.notes["stream_status"] = "error"
        ctx.notes["error_code"] = error.code
        log.warning("stream failed after first byte: %r", error)
        yield error_event(error)
    except (asyncio.CancelledError, GeneratorExit):
        ctx.notes["stream_status"] = "client_disconnected"
        raise
    except Exception:
        ctx.notes["stream_status"] = "error"
        log.exception("stream failed with an internal error")
        yield error_event(internal_error())
    finally:
        ctx.usage, estimated = meter.usage()
        if estimated:
            ctx.notes["usage_estimated"] = True
        await chunks.aclose()
