"""The chat pipeline as layers around the router (an onion).

Every layer is a :class:`ChatHandler` that wraps an inner one: it may answer by itself (a cache hit, a
refusal), change the request, or watch the answer go by. Streams travel as :class:`OpenedStream`: the
first chunk has already arrived (so failures before it are still ordinary HTTP errors that layers can
retry or fall back on), and the rest is an async iterator of OpenAI chunk dicts.

The same layers serve ``/v1/embeddings`` through :meth:`ChatHandler.embed`: each feature says, beside
what it does for a chat request, what it does for an embeddings request (one pipeline, one order; see
``docs/architecture.md``).

The layers and their order are written once, in the composition root (``Gateway._request_layers`` in
:mod:`llm_gateway.gateway`); below the router, each attempt goes through the attempt layers of
:mod:`llm_gateway.core.attempts`.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from llm_gateway.core.context import RequestContext
    from llm_gateway.providers.base import Deployment
    from llm_gateway.schemas.embeddings import EmbeddingRequest
    from llm_gateway.schemas.validation import ChatRequest

StreamEnd = Literal["complete", "error", "aborted"]


@dataclass
class OpenedStream:
    """A stream whose first chunk has arrived: from here on, the answer is committed to the client."""

    first: dict[str, Any]
    rest: AsyncIterator[dict[str, Any]]
    deployment: Deployment | None = None

    async def aclose(self) -> None:
        close = getattr(self.rest, "aclose", None)
        if close is not None:
            await close()


class ChatHandler(ABC):
    @abstractmethod
    async def complete(self, request: ChatRequest, ctx: RequestContext) -> dict[str, Any]:
        """A whole ``chat.completion`` dict."""

    @abstractmethod
    async def open_stream(self, request: ChatRequest, ctx: RequestContext) -> OpenedStream:
        """A stream with its first chunk in hand; raise a ``GatewayError`` if it cannot start."""

    async def embed(self, request: EmbeddingRequest, ctx: RequestContext) -> dict[str, Any]:
        """A ``CreateEmbeddingResponse`` dict, vectors as lists of floats (the service encodes them)."""
        raise NotImplementedError(f"{type(self).__name__} does not serve embeddings")


class Layer(ChatHandler):
    """A pass-through layer; subclasses override what they need."""

    def __init__(self, inner: ChatHandler) -> None:
        self.inner = inner

    async def complete(self, request: ChatRequest, ctx: RequestContext) -> dict[str, Any]:
        return await self.inner.complete(request, ctx)

    async def open_stream(self, request: ChatRequest, ctx: RequestContext) -> OpenedStream:
        return await self.inner.open_stream(request, ctx)

    async def embed(self, request: EmbeddingRequest, ctx: RequestContext) -> dict[str, Any]:
        return await self.inner.embed(request, ctx)


ChunkHook = Callable[[dict[str, Any]], None]
EndHook = Callable[[StreamEnd, BaseException | None], Awaitable[None] | None]


def watch_stream(
    opened: OpenedStream, *, on_chunk: ChunkHook | None = None, on_end: EndHook | None = None
) -> OpenedStream:
    """The same stream, with ``on_chunk`` called for every chunk (the first included) and ``on_end``
    called exactly once: ``complete`` after a clean end, ``error`` if the upstream failed, ``aborted``
    if the consumer stopped early (client went away)."""
    if on_chunk is not None:
        on_chunk(opened.first)

    async def rest() -> AsyncIterator[dict[str, Any]]:
        outcome: StreamEnd = "aborted"
        failure: BaseException | None = None
        try:
            async for chunk in opened.rest:
                if on_chunk is not None:
                    on_chunk(chunk)
                yield chunk
            outcome = "complete"
        except GeneratorExit:
            raise
        except BaseException as exc:
            outcome, failure = ("aborted" if _is_cancel(exc) else "error"), exc
            raise
        finally:
            with contextlib.suppress(Exception):
                await opened.aclose()
            if on_end is not None:
                result = on_end(outcome, failure)
                if result is not None:
                    await result

    return OpenedStream(first=opened.first, rest=rest(), deployment=opened.deployment)


def _is_cancel(exc: BaseException) -> bool:
    import asyncio

    return isinstance(exc, asyncio.CancelledError)


async def replay(chunks: list[dict[str, Any]]) -> OpenedStream:
    """An :class:`OpenedStream` over chunks already in hand (cache hits, idempotent replays)."""
    if not chunks:
        raise ValueError("cannot replay an empty stream")

    async def rest() -> AsyncIterator[dict[str, Any]]:
        for chunk in chunks[1:]:
            yield chunk

    return OpenedStream(first=chunks[0], rest=rest())
