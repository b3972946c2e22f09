"""Slow clients: bound the time a client takes to send its request's head and its body (408, then close).

uvicorn bounds neither. Its keep-alive timer is cancelled by any byte, so a client that sends a header
line a second (or never finishes its head) holds its connection for ever, and nothing bounds a body sent
at a byte a second. :class:`BoundedHttpTools` is what ``--http`` selects instead of ``httptools``
(``handlers/run.sh``, ``make serve``): an ``asyncio.Protocol`` that *holds* uvicorn's own httptools
protocol, the class ``--http httptools`` selects, and hands it every event unchanged; nothing of uvicorn is
subclassed or patched (docs/decisions/0008-slow-clients.md has the measurements and the contract relied
on). Around it:

- **the head** (``server.header_timeout``): a timer from a connection's opening, and from the first byte
  of each later request, to the moment uvicorn calls the app, which it does once the head is complete.
  If it fires while no request is being served, the connection gets a 408 with an OpenAI error body and
  is closed;
- **the body** (``server.body_timeout``): the app's ``receive`` is bounded by one deadline, the end of the
  head plus the timeout, until the body's last piece; past it, ``receive`` raises
  :class:`RequestTimeoutError`, which the app answers as every error (408, OpenAI body,
  ``connection: close``, an access line). Once the body is in, ``receive`` is uvicorn's own: the answer,
  however long a stream lasts, is never bounded here.

The bounds come from the gateway's config through the app's lifespan state (:data:`STATE_KEY`, set in
``api/app.py``); a server run without the lifespan uses the config's defaults. The library's own path is
one setting away: ``LLM_GATEWAY_HTTP=httptools``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from llm_gateway.config import ServerConfig
from llm_gateway.errors import RequestTimeoutError

log = logging.getLogger("llm_gateway.server")

SHIPPED_HTTP = "llm_gateway.api.slow_clients:BoundedHttpTools"
"""uvicorn's ``--http`` for the gateway (``handlers/run.sh``, ``make serve``, the tests and benchmarks)."""
HTTP_ENV = "LLM_GATEWAY_HTTP"
"""Overrides it: ``httptools`` is uvicorn's own path, without the bounds."""


def served_http(env: Mapping[str, str]) -> str:
    return env.get(HTTP_ENV) or SHIPPED_HTTP


STATE_KEY = "llm_gateway.receive_bounds"
"""Where the app's lifespan state holds the :class:`ReceiveBounds` (uvicorn hands that state to every
connection's protocol)."""
LINGER = 2.0
"""How long a connection timed out on its head is read and drained after its 408 (s)."""


@dataclass(frozen=True)
class ReceiveBounds:
    header_timeout: float
    body_timeout: float

    @classmethod
    def of(cls, server: ServerConfig) -> ReceiveBounds:
        return cls(header_timeout=server.header_timeout, body_timeout=server.body_timeout)


DEFAULT_BOUNDS = ReceiveBounds.of(ServerConfig())


def head_timeout_error(bounds: ReceiveBounds) -> RequestTimeoutError:
    return RequestTimeoutError(
        f"The request's headers did not arrive within {bounds.header_timeout:g} seconds.",
        headers={"connection": "close"},
    )


def body_timeout_error(bounds: ReceiveBounds) -> RequestTimeoutError:
    return RequestTimeoutError(
        f"The request body did not arrive within {bounds.body_timeout:g} seconds.",
        headers={"connection": "close"},
    )


def _raw_408(bounds: ReceiveBounds) -> bytes:
    """A whole HTTP/1.1 408 answer, written on a connection no request is being served on."""
    body = orjson.dumps(head_timeout_error(bounds).to_dict())
    head = (
        b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\nconnection: close\r\n"
        b"content-length: %d\r\n\r\n" % len(body)
    )
    return head + body


@functools.cache
def _uvicorn_protocol(name: str) -> type[asyncio.Protocol]:
    """The protocol class ``--http <name>`` selects (uvicorn's own table of them)."""
    from uvicorn.config import HTTP_PROTOCOLS
    from uvicorn.importer import import_from_string

    protocol: type[asyncio.Protocol] = import_from_string(HTTP_PROTOCOLS[name])
    return protocol


class _ConnectionConfig:
    """uvicorn's ``Config`` as one connection's protocol sees it: the same in every respect but the app,
    which is that connection's :meth:`BoundedHttpTools._app`."""

    def __init__(self, config: Any, app: ASGIApp) -> None:
        self._config = config
        self.loaded_app = app

    def __getattr__(self, name: str) -> Any:
        return getattr(self._config, name)


class BoundedHttpTools(asyncio.Protocol):
    """uvicorn's httptools protocol with a bound on receiving each request's head and body."""

    inner_http = "httptools"

    def __init__(
        self,
        config: Any,
        server_state: Any,
        app_state: Mapping[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        if not config.loaded:
            config.load()
        self._loop = _loop or asyncio.get_event_loop()
        self._served: ASGIApp = config.loaded_app
        bounds = app_state.get(STATE_KEY)
        self.bounds: ReceiveBounds = bounds if isinstance(bounds, ReceiveBounds) else DEFAULT_BOUNDS
        self._transport: Any = None
        self._timer: asyncio.TimerHandle | None = None
        self._active = 0  # requests whose head is in and whose app has not returned
        self._lingering = False  # the 408 is sent: what the client still sends is dropped, then we close
        inner = _uvicorn_protocol(self.inner_http)
        self.inner: Any = inner(  # type: ignore[call-arg]
            config=_ConnectionConfig(config, self._app),
            server_state=server_state,
            app_state=app_state,
            _loop=_loop,
        )

    # -- asyncio.Protocol: every event goes on to uvicorn's protocol ---------------------------------

    def connection_made(self, transport: Any) -> None:  # asyncio's or uvloop's (no asyncio.Transport subclass)
        self._transport = transport
        self._start_head_timer()  # a connection that says nothing holds a slot too
        self.inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self._lingering:
            return  # after our 408: read and dropped
        if self._timer is None and not self._active:
            self._start_head_timer()  # the first byte of the next request
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        if self._lingering:
            self._transport.close()
            return None
        result: bool | None = self.inner.eof_received()
        return result

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()

    # -- the head -------------------------------------------------------------------------------------

    def _start_head_timer(self) -> None:
        self._timer = self._loop.call_later(self.bounds.header_timeout, self._head_timed_out)

    def _stop_head_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _head_timed_out(self) -> None:
        self._timer = None
        transport = self._transport
        if self._active or transport is None or transport.is_closing():
            return
        log.info("closed a connection whose request head took over %gs (408)", self.bounds.header_timeout)
        transport.write(_raw_408(self.bounds))
        # A lingering close, as nginx does: end our side, then read and discard what the client still
        # sends for a moment. Closing at once with its bytes unread makes the kernel answer with a reset,
        # which can reach the client before it has read the 408.
        self._lingering = True
        if transport.can_write_eof():
            transport.write_eof()
        self._loop.call_later(LINGER, transport.close)

    # -- the app, as this connection calls it ---------------------------------------------------------

    async def _app(self, scope: Scope, receive: Receive, send: Send) -> None:
        self._stop_head_timer()  # uvicorn calls the app once the head is complete
        self._active += 1
        try:
            if scope["type"] == "http" and not body_received(self.inner, scope):
                receive = _bounded_body(receive, self._loop.time() + self.bounds.body_timeout, self.bounds)
            await self._served(scope, receive, send)
        finally:
            self._active -= 1


def body_received(protocol: Any, scope: Scope) -> bool:
    """Whether uvicorn's ``protocol`` already holds the whole body of the request of ``scope`` (it came
    with its head, as an API request's usually does): no ``receive`` will wait on the client for it, so
    it needs no bound, and the request skips the timer (two thirds of what the bounds cost a request:
    bench/README.md). Read from uvicorn's current request cycle; anything else there (another request's
    cycle, a pipelined one, a uvicorn that names these differently) is ``False``: bounded."""
    cycle = getattr(protocol, "cycle", None)
    return getattr(cycle, "scope", None) is scope and getattr(cycle, "more_body", True) is False


def _bounded_body(receive: Receive, deadline: float, bounds: ReceiveBounds) -> Receive:
    """``receive``, each call until the body's last piece bounded by ``deadline`` (the loop's clock)."""
    body_in = False

    async def bounded() -> Message:
        nonlocal body_in
        if body_in:
            return await receive()
        try:
            async with asyncio.timeout_at(deadline):
                message = await receive()
        except TimeoutError:
            raise body_timeout_error(bounds) from None
        if message["type"] != "http.request" or not message.get("more_body", False):
            body_in = True
        return message

    return bounded
