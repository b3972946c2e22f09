"""Turn an opened upstream stream into the SSE bytes the client receives.

Each chunk is written as soon as it arrives. With ``stream_options.include_usage``, every chunk carries
``"usage": null`` and the last one (``choices: []``) the usage, as OpenAI's streams do; without it, no
chunk carries ``usage``. The stream always ends in one of two ways: ``data: [DONE]``
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


_CLOSING: set[asyncio.Task[None]] = set()
"""Stream clean-ups still running after their request's task was cancelled (kept so they are not
garbage-collected half-way)."""


class UpstreamChunks:
    """Iterate the upstream with a heartbeat: yields ``None`` when the upstream stayed silent too long.

    Each ``anext`` of the upstream runs in its own task, never in the response task. When the client goes
    away, Starlette cancels the response task through an anyio cancel scope, which re-cancels every
    ``await`` of that task until it ends; an upstream read or clean-up running in that task would be cut
    half-way and leave the upstream connection open (still generating, still billing). In a separate
    task, and closed by a separate task, the upstream request is always torn down.
    """

    def __init__(self, opened: OpenedStream, ctx: RequestContext, heartbeat: float) -> None:
        self.opened = opened
        self.ctx = ctx
        self.heartbeat = heartbeat
        self._pending: asyncio.Future[dict[str, Any]] | None = None

    async def next(self) -> dict[str, Any] | None:
        remaining = self.ctx.remaining()
        if remaining <= 0:
            raise UpstreamTimeoutError("The request reached its deadline before the answer was complete.")
        if self._pending is None:
            self._pending = asyncio.ensure_future(anext(self.opened.rest))
        wait = min(self.heartbeat, remaining) if self.heartbeat else remaining
        if not await _done_within(self._pending, wait):
            return None  # a heartbeat; at the deadline, the next call raises
        pending, self._pending = self._pending, None
        return pending.result()

    async def aclose(self) -> None:
        """Cancel the pending read and close the upstream, in a task of its own that the caller's
        cancellation cannot interrupt; wait for it unless the caller is being cancelled."""
        cleanup = asyncio.ensure_future(self._close())
        _CLOSING.add(cleanup)
        cleanup.add_done_callback(_CLOSING.discard)
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.shield(cleanup)

    async def _close(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            # Never cancel a read that is already being cancelled (by its own timeout): a second
            # cancellation would interrupt the response's own clean-up and could leave the connection open.
            if not pending.done() and not (isinstance(pending, asyncio.Task) and pending.cancelling()):
                pending.cancel()
            with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration, Exception):
                await pending
        try:
            await self.opened.aclose()
        except Exception as exc:
            log.warning("closing an upstream stream failed: %r", exc)


async def _done_within(future: asyncio.Future[Any], timeout: float) -> bool:
    """Wait until ``future`` is done or ``timeout`` seconds pass; never cancels it. What
    ``asyncio.wait({future}, timeout=...)`` does, at a fraction of its cost (it runs once per chunk)."""
    if future.done():
        return True
    loop = asyncio.get_running_loop()
    waiter: asyncio.Future[None] = loop.create_future()

    def wake(_: object = None) -> None:
        if not waiter.done():
            waiter.set_result(None)

    future.add_done_callback(wake)
    timer = loop.call_later(timeout, wake)
    try:
        await waiter
    finally:
        timer.cancel()
        future.remove_done_callback(wake)
    return future.done()


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
    chunks = UpstreamChunks(opened, ctx, heartbeat)
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
                    yield encode_event(chunk if "usage" in chunk else {**chunk, "usage": None})
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
        ctx.note("stream_status", "complete")
    except GatewayError as error:
        ctx.note("stream_status", "error")
        ctx.note("error_code", error.code)
        log.warning("stream failed after first byte: %r", error)
        yield error_event(error)
    except (asyncio.CancelledError, GeneratorExit):
        ctx.note("stream_status", "client_disconnected")
        raise
    except Exception:
        ctx.note("stream_status", "error")
        log.exception("stream failed with an internal error")
        yield error_event(internal_error())
    finally:
        ctx.usage, estimated = meter.usage()
        if estimated:
            ctx.note("usage_estimated", True)
        await chunks.aclose()
