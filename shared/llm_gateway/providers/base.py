"""The one interface every provider implements, and the pieces HTTP providers share.

A provider turns an OpenAI-shaped :class:`ProviderCall` into an OpenAI ``chat.completion`` dict
(:meth:`ChatProvider.complete`) or an async iterator of ``chat.completion.chunk`` dicts
(:meth:`ChatProvider.stream`); one that serves embeddings also turns an embeddings call into a
``CreateEmbeddingResponse`` dict (:meth:`ChatProvider.embed`). Failures are raised as
:class:`~llm_gateway.errors.GatewayError` subclasses, never as httpx/botocore exceptions. Providers hold
no per-request state; a stream's state lives in a per-stream object (see :class:`StreamMapper`).

HTTP providers subclass :class:`HTTPChatProvider` and only describe the translation:
``build_request`` (request mapping), ``parse_response`` (response mapping), ``new_stream_mapper``
(stream mapping with explicit state) and ``map_error`` (error mapping). The base class does the I/O.
"""

from __future__ import annotations

import asyncio
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import orjson

from llm_gateway.errors import (
    GatewayError,
    InvalidRequestError,
    UpstreamConnectionError,
    UpstreamTimeoutError,
)
from llm_gateway.transport.http import send_upstream

T = TypeVar("T")

if TYPE_CHECKING:
    import httpx

    from llm_gateway.config import DeploymentConfig, ServerConfig
    from llm_gateway.providers.fetch import MediaFetcher
    from llm_gateway.providers.thinking.store import ThinkingStore
    from llm_gateway.schemas.embeddings import EmbeddingRequest
    from llm_gateway.schemas.native import NativeRequest
    from llm_gateway.schemas.validation import ChatRequest
    from llm_gateway.secrets import SecretResolver


@dataclass(frozen=True)
class Deployment:
    """One configured upstream deployment (an entry of ``models:``)."""

    id: str
    group: str
    provider: str
    model: str
    config: DeploymentConfig = field(repr=False, compare=False)

    @property
    def api_base(self) -> str | None:
        return self.config.api_base


@dataclass
class ProviderCall:
    """Everything a provider needs for one attempt."""

    deployment: Deployment
    request: ChatRequest | EmbeddingRequest
    """A chat request for ``complete``/``stream``, an embeddings request for ``embed``."""
    body: dict[str, Any]
    """The OpenAI-format body to send: extensions removed, ``model`` set to the upstream model id."""
    api_key: str | None = field(default=None, repr=False)
    timeout: float = 600.0
    """Seconds this attempt may take in all (the request's remaining deadline)."""
    want_usage: bool = True
    """Ask the upstream for token usage on streams (the gateway strips it if the client did not ask)."""
    request_id: str = ""
    caller: str = ""
    """The caller's key identity (never the key): what provider-side state is scoped to."""
    response_headers: dict[str, str] = field(default_factory=dict)
    """Headers this attempt adds to the client's response (the router passes the request's own)."""

    @property
    def stream(self) -> bool:
        return bool(self.body.get("stream"))

    @property
    def native(self) -> NativeRequest | None:
        """The inbound body to send untouched, when this deployment passes its endpoint through natively."""
        native = getattr(self.request, "native", None)
        if native is None or native.endpoint not in self.deployment.config.native:
            return None
        return native  # type: ignore[no-any-return]

    @property
    def embedding(self) -> EmbeddingRequest:
        """The embeddings request of an ``embed`` call."""
        from llm_gateway.schemas.embeddings import EmbeddingRequest

        if not isinstance(self.request, EmbeddingRequest):
            raise TypeError("not an embeddings call")
        return self.request


@dataclass
class ProviderDeps:
    """What providers are built with; one set per process, injected (tests swap any of it)."""

    transport: httpx.AsyncBaseTransport
    """The pooled transport provider calls go through (see :func:`llm_gateway.transport.http.send_upstream`)."""
    secrets: SecretResolver
    server: ServerConfig
    clock: Callable[[], float] = time.time
    aws_clients: Callable[..., Any] | None = None
    """``aws_clients(service, region=..., endpoint_url=...)`` -> boto3 client (lazy, cached)."""
    media_fetcher: MediaFetcher | None = None
    """Downloads http(s) media URLs for providers that need bytes (see ``providers/fetch``)."""
    thinking: ThinkingStore | None = None
    """Where Claude's thinking blocks wait for a tool loop's next request (see ``providers/thinking``)."""


class ChatProvider(ABC):
    name: ClassVar[str]
    serves_embeddings: ClassVar[bool] = False
    """Whether :meth:`embed` is implemented (a deployment listing ``embeddings`` needs it; checked at start-up)."""
    native_endpoints: ClassVar[frozenset[str]] = frozenset()
    """Bridged APIs this provider can pass through untouched (:meth:`complete_native`, :meth:`stream_native`;
    a deployment's ``native`` may only list these, checked at start-up)."""

    def __init__(self, deps: ProviderDeps) -> None:
        self.deps = deps

    @classmethod
    def validate_deployment(cls, deployment: DeploymentConfig) -> None:
        """Raise ``ValueError`` when a config entry lacks what this provider needs (checked at start-up)."""
        return

    @abstractmethod
    async def complete(self, call: ProviderCall) -> dict[str, Any]:
        """One non-stream completion, as an OpenAI ``chat.completion`` dict."""

    @abstractmethod
    def stream(self, call: ProviderCall) -> AsyncIterator[dict[str, Any]]:
        """A streamed completion, as OpenAI ``chat.completion.chunk`` dicts (usage chunk included when
        ``call.want_usage``). Raises a ``GatewayError`` on failure, before or during the stream."""

    async def embed(self, call: ProviderCall) -> dict[str, Any]:
        """Embeddings for ``call.embedding``, as a ``CreateEmbeddingResponse`` dict with float vectors in
        input order (see :mod:`llm_gateway.embeddings.response`); ``usage`` left out when the upstream
        does not count tokens."""
        raise InvalidRequestError(
            f"The {self.name} provider does not serve embeddings (model '{call.deployment.group}').",
            param="model",
            code="model_not_supported",
        )

    async def complete_native(self, call: ProviderCall, native: NativeRequest) -> dict[str, Any]:
        """``native.body`` sent as it is (``model`` set): a ``chat.completion`` dict translated from the
        upstream's answer, so every layer sees what it sees for chat (usage for the ledger included),
        with the upstream's own answer under ``native`` (:data:`llm_gateway.schemas.native.NATIVE_FIELD`)."""
        raise NotImplementedError(f"{self.name} cannot pass {native.endpoint} requests through")

    async def count_tokens(self, call: ProviderCall, native: NativeRequest) -> int | None:
        """The upstream's own count of ``native``'s input tokens (``/v1/messages/count_tokens``), or ``None``
        where it has no count endpoint (the gateway estimates)."""
        return None

    def stream_native(self, call: ProviderCall, native: NativeRequest) -> AsyncIterator[dict[str, Any]]:
        """The stream of ``native.body``: chat chunks translated from the upstream's events, each carrying
        the events it came from under ``native`` (a list; events that make no chat delta ride on a chunk
        with no choices)."""
        raise NotImplementedError(f"{self.name} cannot pass {native.endpoint} requests through")

    async def aclose(self) -> None:
        """Release what the provider holds (the shared HTTP client is closed by its owner)."""
        return


@dataclass
class UpstreamHTTPRequest:
    url: str
    json: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    method: str = "POST"

    def content(self) -> bytes:
        return orjson.dumps(self.json)


class StreamMapper(ABC):
    """Per-stream state machine: upstream events in, OpenAI chunk dicts out."""

    @abstractmethod
    def feed(self, event: str | None, data: str) -> list[dict[str, Any]]:
        """Map one upstream SSE event; raise a ``GatewayError`` for an error event or a malformed frame."""

    @abstractmethod
    def finish(self) -> list[dict[str, Any]]:
        """The upstream stream ended; return any final chunks or raise if it ended too early."""

    @property
    def done(self) -> bool:
        """True once the upstream signalled the end (e.g. ``[DONE]``); later bytes are ignored."""
        return False


class HTTPChatProvider(ChatProvider):
    """A provider reached over HTTP with JSON bodies and SSE streams. Subclasses translate; this does I/O."""

    @abstractmethod
    def build_request(self, call: ProviderCall) -> UpstreamHTTPRequest: ...

    @abstractmethod
    def parse_response(self, call: ProviderCall, data: Any) -> dict[str, Any]: ...

    @abstractmethod
    def new_stream_mapper(self, call: ProviderCall) -> StreamMapper: ...

    @abstractmethod
    def map_error(self, call: ProviderCall, status: int, headers: Mapping[str, str], body: bytes) -> GatewayError: ...

    def _timeout(self, call: ProviderCall) -> Any:
        import httpx

        server = self.deps.server
        per_attempt = call.deployment.config.timeout
        total = min(call.timeout, per_attempt) if per_attempt else call.timeout
        return httpx.Timeout(
            connect=min(server.connect_timeout, total),
            read=min(server.read_timeout, total),
            write=min(server.write_timeout, total),
            pool=min(server.pool_timeout, total),
        )

    def _attempt_seconds(self, call: ProviderCall) -> float:
        per_attempt = call.deployment.config.timeout
        return min(call.timeout, per_attempt) if per_attempt else call.timeout

    def _deadline_error(self, call: ProviderCall) -> UpstreamTimeoutError:
        return UpstreamTimeoutError(
            f"The upstream for model '{call.deployment.group}' did not answer within the request's deadline."
        )

    async def complete(self, call: ProviderCall) -> dict[str, Any]:
        """One call, bounded as a whole by the attempt's deadline: httpx's timeouts are per read, so an
        upstream trickling a byte at a time would otherwise hold the request for ever."""
        try:
            async with asyncio.timeout(self._attempt_seconds(call)):
                return await self._complete(call)
        except TimeoutError:
            raise self._deadline_error(call) from None

    async def _complete(self, call: ProviderCall) -> dict[str, Any]:
        return self.parse_response(call, await self.send_json(call, self.build_request(call)))

    async def send_json(self, call: ProviderCall, upstream: UpstreamHTTPRequest) -> Any:
        """One JSON request to the upstream, its JSON answer decoded (errors mapped by :meth:`map_error`).
        Not bounded as a whole: callers run it under the attempt's deadline (see :meth:`complete`)."""
        import httpx

        limit = self.deps.server.max_upstream_response_bytes
        try:
            response = await send_upstream(
                self.deps.transport,
                upstream.method,
                upstream.url,
                headers={"content-type": "application/json", **upstream.headers},
                content=upstream.content(),
                timeout=self._timeout(call),
            )
            try:
                body = await read_capped(response, limit)
            finally:
                await response.aclose()
        except httpx.TimeoutException:
            raise UpstreamTimeoutError(
                f"The upstream for model '{call.deployment.group}' did not answer in time."
            ) from None
        except httpx.HTTPError as exc:
            raise connection_error(call, exc) from None
        if response.status_code >= 400:
            raise self.map_error(call, response.status_code, response.headers, body)
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            raise UpstreamConnectionError(
                f"The upstream for model '{call.deployment.group}' sent a response that is not JSON.",
                code="upstream_bad_response",
            ) from None

    async def within_attempt(self, call: ProviderCall, work: Awaitable[T]) -> T:
        """``work`` bounded by the attempt's deadline, as :meth:`complete` is."""
        try:
            async with asyncio.timeout(self._attempt_seconds(call)):
                return await work
        except TimeoutError:
            raise self._deadline_error(call) from None

    async def _refuse_non_stream(self, call: ProviderCall, response: httpx.Response, deadline: float) -> None:
        """Raise for an error status, or for a JSON body where an event stream was expected."""
        if response.status_code < 400 and "json" not in response.headers.get("content-type", ""):
            return
        async with asyncio.timeout_at(deadline):
            body = await read_capped(response, 1024 * 1024)
        if response.status_code >= 400:
            raise self.map_error(call, response.status_code, response.headers, body)
        raise self._json_instead_of_stream(call, response.headers, body)

    def _json_instead_of_stream(self, call: ProviderCall, headers: Mapping[str, str], body: bytes) -> GatewayError:
        """A stream request answered 2xx with a JSON body: an error object (some servers send errors with
        status 200), reported as the upstream's error; anything else is a broken answer."""
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            data = None
        if isinstance(data, dict) and data.get("error"):
            return self.map_error(call, 502, headers, body)
        return UpstreamConnectionError(
            f"The upstream for model '{call.deployment.group}' answered a stream request with JSON instead of "
            "an event stream.",
            code="upstream_bad_response",
        )

    def stream(self, call: ProviderCall) -> AsyncIterator[dict[str, Any]]:
        return self.stream_request(call, self.build_request(call), self.new_stream_mapper(call))

    async def stream_request(
        self, call: ProviderCall, upstream: UpstreamHTTPRequest, mapper: StreamMapper
    ) -> AsyncIterator[dict[str, Any]]:
        """``upstream``'s event stream through ``mapper`` (a native pass-through streams this way too)."""
        import httpx

        from llm_gateway.providers.sse import SSEDecoder

        decoder = SSEDecoder(max_event_bytes=self.deps.server.max_upstream_response_bytes)
        loop = asyncio.get_running_loop()
        # Until the first chunk, the attempt's deadline; after it, the request's. Enforced per await
        # (never across a ``yield``: the consumer may resume this generator from another task).
        first_by = loop.time() + self._attempt_seconds(call)
        end_by = loop.time() + call.timeout
        sent_any = False
        try:
            async with asyncio.timeout_at(first_by):
                response = await send_upstream(
                    self.deps.transport,
                    upstream.method,
                    upstream.url,
                    headers={"content-type": "application/json", "accept": "text/event-stream", **upstream.headers},
                    content=upstream.content(),
                    timeout=self._timeout(call),
                )
        except TimeoutError:
            raise self._deadline_error(call) from None
        except httpx.TimeoutException:
            raise UpstreamTimeoutError(
                f"The upstream for model '{call.deployment.group}' did not answer in time."
            ) from None
        except httpx.HTTPError as exc:
            raise connection_error(call, exc) from None
        try:
            await self._refuse_non_stream(call, response, first_by)
            raws = response.aiter_raw()
            while True:
                try:
                    async with asyncio.timeout_at(end_by if sent_any else first_by):
                        raw = await anext(raws)
                except StopAsyncIteration:
                    break
                for event in decoder.feed(raw):
                    for chunk in mapper.feed(event.event, event.data):
                        sent_any = True
                        yield chunk
                    if mapper.done:
                        return
            for event in decoder.close():
                for chunk in mapper.feed(event.event, event.data):
                    yield chunk
            for chunk in mapper.finish():
                yield chunk
        except TimeoutError:
            raise self._deadline_error(call) from None
        except httpx.TimeoutException:
            raise UpstreamTimeoutError(
                f"The upstream for model '{call.deployment.group}' went silent for too long."
            ) from None
        except httpx.HTTPError as exc:
            raise UpstreamConnectionError(
                f"The upstream stream for model '{call.deployment.group}' was cut off ({type(exc).__name__}).",
                code="upstream_stream_cut",
            ) from None
        finally:
            await response.aclose()


async def read_capped(response: httpx.Response, limit: int) -> bytes:
    """Read a whole body, refusing one larger than ``limit`` bytes."""
    from llm_gateway.transport.pool import ResponseBody

    if isinstance(response.stream, ResponseBody) and not response.is_stream_consumed:
        response.is_stream_consumed = True
        body = await response.stream.read_all(limit)
        if body is None:
            raise _too_large(limit)
        return body
    parts: list[bytes] = []
    size = 0
    async for piece in response.aiter_raw():
        size += len(piece)
        if size > limit:
            raise _too_large(limit)
        parts.append(piece)
    return b"".join(parts)


def _too_large(limit: int) -> UpstreamConnectionError:
    return UpstreamConnectionError(
        f"The upstream response exceeded the gateway's size limit ({limit} bytes).",
        code="upstream_response_too_large",
    )


def connection_error(call: ProviderCall, exc: Exception) -> UpstreamConnectionError:
    kind = type(exc).__name__
    return UpstreamConnectionError(
        f"Could not reach the upstream for model '{call.deployment.group}' ({kind}).",
    )
