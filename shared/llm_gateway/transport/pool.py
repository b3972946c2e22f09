"""The upstream transport: a lean HTTP/1.1 keep-alive pool on asyncio protocols and httptools' parser.

It does one job: send a request whose body is already in memory and hand back the response as it
arrives. Responses are parsed by llhttp (through httptools, which uvicorn already ships with);
connections are kept per origin, most recently used first. HTTP/1.1 only, no proxy: httpx's own client
is ``server.upstream_http: httpx`` away, and is used whenever a proxy is set (:mod:`llm_gateway.transport.http`).
Why it exists, what it saves and what it costs: docs/decisions/0001-upstream-pool.md.

It implements ``httpx.AsyncBaseTransport``, so providers, ``httpx.AsyncClient`` and tests (which inject
``httpx.MockTransport``) see ordinary ``httpx.Response`` objects and httpx's exception classes.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections import deque
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httptools
import httpx

Origin = tuple[str, str, int]

READ_BUFFER_HIGH = 1024 * 1024
"""Bytes of unread response body after which the pool stops reading from the socket until they are read."""


class NotSent(httpx.WriteError):
    """The connection turned out closed before a byte of the request was written: safe to send again."""


class Connection(asyncio.Protocol):
    """One HTTP/1.1 connection to an upstream; serves one exchange at a time."""

    def __init__(self, pool: UpstreamPool, origin: Origin, loop: asyncio.AbstractEventLoop) -> None:
        self.pool = pool
        self.origin = origin
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.closed = False
        self.counted = False  # holds one of the pool's connection slots (set once connected)
        self.active = False  # an exchange is in progress
        self.idle_since = 0.0
        self._writable: asyncio.Future[None] | None = None
        self._reading_paused = False
        self._waiter: asyncio.Future[None] | None = None
        # Read timeouts: one watchdog timer per connection, re-armed only when it fires early, instead of a
        # timer created and cancelled around every wait (they rarely fire: the default is 120 s of silence).
        self._read_deadline = 0.0
        self._watchdog: asyncio.TimerHandle | None = None
        self._watchdog_at = 0.0
        self._reset_exchange(head_only=False)

    # -- one exchange -------------------------------------------------------------------------------------

    def _reset_exchange(self, head_only: bool) -> None:
        """The per-response state, fresh for the next exchange (``active`` is the pool's to set)."""
        self.head_only = head_only
        self.status = 0
        self.reason = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.head_done = False
        self.complete = False
        self.keep_alive = False
        self.until_close = False
        self.interim = False
        self.body: list[bytes] = []
        self.buffered = 0
        self.error: Exception | None = None

    async def exchange(self, head: bytes, body: bytes, head_only: bool, timeouts: dict[str, Any]) -> None:
        """Send the request and wait for the response head."""
        self._reset_exchange(head_only)
        transport = self.transport
        if transport is None or self.closed or transport.is_closing():
            raise NotSent("the upstream connection closed before the request was sent")
        if body and len(body) < 65536:
            transport.write(head + body)
        else:
            transport.write(head)
            if body:
                transport.write(body)
        if self._writable is not None:
            await self._wait_writable(timeouts.get("write"))
        read_timeout = timeouts.get("read")
        while not self.head_done:
            if self.error is not None:
                raise self.error
            await self._wait(read_timeout)

    async def next_body(self, timeout: float | None) -> bytes | None:
        """The body bytes that arrived since the last call, waiting for some; ``None`` at the end."""
        while True:
            if self.body:
                parts = self.body
                data = parts[0] if len(parts) == 1 else b"".join(parts)
                self.body = []
                self.buffered = 0
                if self._reading_paused and self.transport is not None and not self.closed:
                    self._reading_paused = False
                    self.transport.resume_reading()
                return data
            if self.error is not None:
                raise self.error
            if self.complete:
                return None
            await self._wait(timeout)

    def usable_at(self, now: float, keepalive_expiry: float) -> bool:
        """An idle connection that may carry the next request."""
        transport = self.transport
        return (
            not self.closed
            and transport is not None
            and not transport.is_closing()
            and now - self.idle_since <= keepalive_expiry
        )

    @property
    def reusable(self) -> bool:
        return self.complete and self.keep_alive and self.error is None and not self.closed

    def _wait(self, timeout: float | None) -> asyncio.Future[None]:
        waiter = self.loop.create_future()
        self._waiter = waiter
        if timeout is not None:
            deadline = self._read_deadline = self.loop.time() + timeout
            if self._watchdog is None or deadline < self._watchdog_at:
                self._arm_watchdog(deadline)
        else:
            self._read_deadline = float("inf")
        return waiter

    def _arm_watchdog(self, at: float) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
        self._watchdog_at = at
        self._watchdog = self.loop.call_at(at, self._check_read_deadline)

    def _check_read_deadline(self) -> None:
        self._watchdog = None
        waiter = self._waiter
        if waiter is None or waiter.done():
            return  # nothing is waiting; the next wait arms the watchdog again
        if self.loop.time() >= self._read_deadline:
            waiter.set_exception(httpx.ReadTimeout("timed out waiting for the upstream's response"))
        elif self._read_deadline != float("inf"):
            self._arm_watchdog(self._read_deadline)

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def _fail(self, error: Exception) -> None:
        if self.error is None:
            self.error = error
        self._wake()
        self.close()

    async def _wait_writable(self, timeout: float | None) -> None:
        writable = self._writable
        if writable is None:
            return
        try:
            async with asyncio.timeout(timeout):
                await asyncio.shield(writable)
        except TimeoutError:
            self.close()
            raise httpx.WriteTimeout("timed out sending the request to the upstream") from None

    # -- asyncio.Protocol ---------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's transports do not subclass asyncio's

    def data_received(self, data: bytes) -> None:
        if not self.active or self.complete:  # bytes after the response: the server broke the protocol
            self.keep_alive = False
            self.close()
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(httpx.RemoteProtocolError("the upstream switched protocols"))
        except httptools.HttpParserError as exc:
            self._fail(httpx.RemoteProtocolError(f"the upstream sent a malformed HTTP response ({exc})"))

    def eof_received(self) -> bool | None:
        if not self.active:
            self.closed = True  # the server ended an idle connection; connection_lost follows
        elif self.active and self.head_done and not self.complete and self.until_close:
            self.complete = True  # a body delimited by the connection's end
            self.keep_alive = False
            self._wake()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.active and not self.complete:
            if not self.head_done:
                error: Exception = httpx.RemoteProtocolError("the upstream closed the connection without a response")
            else:
                error = httpx.RemoteProtocolError("the upstream closed the connection before the body was complete")
            if self.error is None:
                self.error = error
            self._wake()
        writable = self._writable
        if writable is not None and not writable.done():
            writable.set_exception(httpx.WriteError("the upstream connection closed while sending"))
            writable.exception()  # retrieved: nobody may be waiting
        self.pool._forget(self)

    def pause_writing(self) -> None:
        if self._writable is None:
            self._writable = self.loop.create_future()

    def resume_writing(self) -> None:
        writable, self._writable = self._writable, None
        if writable is not None and not writable.done():
            writable.set_result(None)

    # -- httptools callbacks ------------------------------------------------------------------------------

    def on_status(self, reason: bytes) -> None:
        self.reason += reason

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if 100 <= status < 200:  # 100 Continue and friends: wait for the real response
            self.interim = True
            self.headers = []
            self.reason = b""
            return
        self.status = status
        self.head_done = True
        framed = any(name.lower() in (b"content-length", b"transfer-encoding") for name, _ in self.headers)
        self.until_close = not framed and status not in (204, 304)
        if self.head_only:
            self.complete = True
            self.keep_alive = False
        self._wake()

    def on_body(self, body: bytes) -> None:
        if self.head_only:
            return
        self.body.append(body)
        self.buffered += len(body)
        if self.buffered > READ_BUFFER_HIGH and not self._reading_paused and self.transport is not None:
            self._reading_paused = True
            self.transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        if self.interim:
            self.interim = False
            return
        self.complete = True
        self.keep_alive = not self.head_only and self.parser.should_keep_alive()
        self._wake()

    # -- lifetime -----------------------------------------------------------------------------------------

    def close(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()
        self.closed = True


class ResponseBody(httpx.AsyncByteStream):
    """The body of one response, read from its connection; the connection goes back to the pool (or is
    closed) when the body has been read to the end or the response is closed."""

    def __init__(self, pool: UpstreamPool, connection: Connection, read_timeout: float | None) -> None:
        self._pool = pool
        self._connection = connection
        self._read_timeout = read_timeout
        self._released = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        connection = self._connection
        try:
            while (data := await connection.next_body(self._read_timeout)) is not None:
                yield data
        except BaseException:
            self._release()
            raise
        self._release()

    async def read_all(self, limit: int) -> bytes | None:
        """The rest of the body in one piece, or ``None`` as soon as it grows past ``limit`` bytes (the
        connection is then closed). What ``Response.aread`` gives, without httpx's per-piece machinery."""
        connection = self._connection
        parts: list[bytes] = []
        size = 0
        try:
            while (data := await connection.next_body(self._read_timeout)) is not None:
                size += len(data)
                if size > limit:
                    connection.close()
                    return None
                parts.append(data)
        finally:
            self._release()
        return parts[0] if len(parts) == 1 else b"".join(parts)

    async def aclose(self) -> None:
        self._release()

    def _release(self) -> None:
        if not self._released:
            self._released = True
            self._pool._release(self._connection)


class UpstreamPool(httpx.AsyncBaseTransport):
    """An ``httpx`` transport with a bounded HTTP/1.1 keep-alive pool (``max_connections`` in all, at most
    ``max_keepalive_connections`` idle, each idle at most ``keepalive_expiry`` seconds)."""

    def __init__(
        self,
        *,
        ssl_context: ssl.SSLContext | None = None,
        max_connections: int = 200,
        max_keepalive_connections: int = 50,
        keepalive_expiry: float = 30.0,
    ) -> None:
        self._ssl_context = ssl_context
        self._max_connections = max_connections
        self._max_keepalive = max_keepalive_connections
        self._keepalive_expiry = keepalive_expiry
        self._idle: dict[Origin, list[Connection]] = {}
        self._idle_count = 0
        self._open = 0
        self._slot_waiters: deque[asyncio.Future[None]] = deque()
        self._targets: dict[str, tuple[Origin, str, str]] = {}
        """Each upstream URL's origin, request target and Host value (a handful of URLs in practice)."""
        self._closed = False

    @property
    def connection_count(self) -> int:
        """Connections open (or opening), in use or idle."""
        return self._open

    @property
    def idle_connection_count(self) -> int:
        return self._idle_count

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        scheme = url.scheme
        if scheme not in ("http", "https"):
            raise httpx.UnsupportedProtocol(f"unsupported URL scheme {scheme!r}")
        origin = (scheme, url.host, url.port or (443 if scheme == "https" else 80))
        timeouts: dict[str, Any] = request.extensions.get("timeout") or {}
        body, raw_headers = await _body_and_headers(request)
        head = _request_head(request.method.encode(), url.raw_path, raw_headers)
        head_only = request.method == "HEAD"
        return await self._send(origin, head, body, head_only=head_only, timeouts=timeouts, request=request)

    async def send(
        self, method: str, url: str, headers: Mapping[str, str], content: bytes, timeouts: dict[str, Any]
    ) -> httpx.Response:
        """What ``handle_async_request`` does, without building an ``httpx.Request`` first (the gateway's own
        upstream calls; the response's ``request`` is unset). Adds Host and Content-Length."""
        target = self._targets.get(url)
        if target is None:
            target = self._target(url)
        origin, path, host = target
        lines = [f"{method} {path} HTTP/1.1\r\nHost: {host}\r\n"]
        for name, value in headers.items():
            if "\r" in value or "\n" in value or "\r" in name or "\n" in name or ":" in name or not name:
                raise httpx.LocalProtocolError(f"invalid header {name!r}")
            lines.append(f"{name}: {value}\r\n")
        lines.append(f"Content-Length: {len(content)}\r\n\r\n")
        head = "".join(lines).encode()
        return await self._send(origin, head, content, head_only=method == "HEAD", timeouts=timeouts, request=None)

    def _target(self, url: str) -> tuple[Origin, str, str]:
        parsed = httpx.URL(url)
        scheme = parsed.scheme
        if scheme not in ("http", "https"):
            raise httpx.UnsupportedProtocol(f"unsupported URL scheme {scheme!r}")
        origin = (scheme, parsed.host, parsed.port or (443 if scheme == "https" else 80))
        target = origin, parsed.raw_path.decode("ascii") or "/", parsed.netloc.decode("ascii")
        if len(self._targets) >= 1024:  # a handful of upstream URLs in practice; never unbounded
            self._targets.clear()
        self._targets[url] = target
        return target

    async def _send(
        self,
        origin: Origin,
        head: bytes,
        body: bytes,
        *,
        head_only: bool,
        timeouts: dict[str, Any],
        request: httpx.Request | None,
    ) -> httpx.Response:
        if self._closed:
            raise httpx.ConnectError("the upstream connection pool is closed")
        for attempt in range(3):
            connection = await self._acquire(origin, timeouts)
            try:
                await connection.exchange(head, body, head_only, timeouts)
                break
            except NotSent:
                connection.close()
                self._release(connection)
                if attempt == 2:
                    raise
            except BaseException:
                connection.close()
                self._release(connection)
                raise
        return httpx.Response(
            connection.status,
            headers=connection.headers,
            stream=ResponseBody(self, connection, timeouts.get("read")),
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": connection.reason},
            request=request,
        )

    async def close_idle_connections(self) -> None:
        """Close the connections kept for reuse; the pool stays open (before a SnapStart snapshot)."""
        idle = [connection for connections in self._idle.values() for connection in connections]
        self._idle.clear()
        self._idle_count = 0
        for connection in idle:
            self._drop(connection)
            self._wake_slot_waiter()

    async def aclose(self) -> None:
        self._closed = True
        for connections in self._idle.values():
            for connection in connections:
                connection.close()
        self._idle.clear()
        self._idle_count = 0

    # -- the pool -----------------------------------------------------------------------------------------

    async def _acquire(self, origin: Origin, timeouts: dict[str, Any]) -> Connection:
        loop = asyncio.get_running_loop()
        while True:
            idle = self._idle.get(origin)
            if idle:
                now = loop.time()
                while idle:
                    connection = idle.pop()
                    self._idle_count -= 1
                    if connection.usable_at(now, self._keepalive_expiry):
                        connection.active = True
                        return connection
                    self._drop(connection)
            if self._open < self._max_connections:
                break
            if self._idle_count:  # at capacity, but an idle connection to another upstream can make room
                self._drop(self._evict_one())
                continue
            await self._wait_for_slot(loop, timeouts.get("pool"))
        self._open += 1
        try:
            connection = await self._connect(loop, origin, timeouts.get("connect"))
        except BaseException:
            self._open -= 1
            self._wake_slot_waiter()
            raise
        connection.counted = True
        connection.active = True
        return connection

    async def _connect(self, loop: asyncio.AbstractEventLoop, origin: Origin, timeout: float | None) -> Connection:
        scheme, host, port = origin
        context = self._tls_context() if scheme == "https" else None
        try:
            async with asyncio.timeout(timeout):
                _, connection = await loop.create_connection(
                    lambda: Connection(self, origin, loop),
                    host,
                    port,
                    ssl=context,
                    server_hostname=host if context is not None else None,
                )
        except TimeoutError:
            raise httpx.ConnectTimeout(f"timed out connecting to {host}:{port}") from None
        except OSError as exc:  # ssl.SSLError (an untrusted certificate, say) is an OSError
            raise httpx.ConnectError(f"could not connect to {host}:{port}: {exc}") from None
        return connection

    def _tls_context(self) -> ssl.SSLContext:
        if self._ssl_context is None:
            self._ssl_context = httpx.create_ssl_context()
        return self._ssl_context

    async def _wait_for_slot(self, loop: asyncio.AbstractEventLoop, timeout: float | None) -> None:
        waiter: asyncio.Future[None] = loop.create_future()
        self._slot_waiters.append(waiter)
        try:
            async with asyncio.timeout(timeout):
                await waiter
        except TimeoutError:
            raise httpx.PoolTimeout("timed out waiting for a free upstream connection") from None
        finally:
            if not waiter.done():
                waiter.cancel()
            with contextlib.suppress(ValueError):
                self._slot_waiters.remove(waiter)

    def _wake_slot_waiter(self) -> None:
        while self._slot_waiters:
            waiter = self._slot_waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def _release(self, connection: Connection) -> None:
        """The exchange on ``connection`` is over: keep the connection for the next request, or close it."""
        connection.active = False
        if connection.reusable and connection.counted and not self._closed and self._idle_count < self._max_keepalive:
            connection.idle_since = connection.loop.time()
            self._idle.setdefault(connection.origin, []).append(connection)
            self._idle_count += 1
        else:
            self._drop(connection)
        self._wake_slot_waiter()

    def _evict_one(self) -> Connection:
        oldest: Connection | None = None
        for connections in self._idle.values():
            if connections and (oldest is None or connections[0].idle_since < oldest.idle_since):
                oldest = connections[0]
        assert oldest is not None
        self._idle[oldest.origin].remove(oldest)
        self._idle_count -= 1
        return oldest

    def _drop(self, connection: Connection) -> None:
        connection.close()
        if connection.counted:
            connection.counted = False
            self._open -= 1

    def _forget(self, connection: Connection) -> None:
        """``connection`` closed (either side): free its slot, and take it out of the idle list."""
        if not connection.active:
            idle = self._idle.get(connection.origin)
            if idle and connection in idle:
                idle.remove(connection)
                self._idle_count -= 1
        if connection.counted and not connection.active:
            connection.counted = False
            self._open -= 1
            self._wake_slot_waiter()


async def _body_and_headers(request: httpx.Request) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    """The request body in memory, and the headers to send with it (a streamed body is read first, and
    sent with a Content-Length instead of chunked)."""
    try:
        return request.content, request.headers.raw
    except httpx.RequestNotRead:
        pass
    body = await request.aread()
    headers = [
        (name, value)
        for name, value in request.headers.raw
        if name.lower() not in (b"transfer-encoding", b"content-length")
    ]
    headers.append((b"Content-Length", str(len(body)).encode()))
    return body, headers


def _request_head(method: bytes, target: bytes, headers: list[tuple[bytes, bytes]]) -> bytes:
    lines = [method, b" ", target or b"/", b" HTTP/1.1\r\n"]
    for name, value in headers:
        _check_header(name, value)
        lines += (name, b": ", value, b"\r\n")
    lines.append(b"\r\n")
    return b"".join(lines)


def _check_header(name: bytes, value: bytes) -> None:
    if b"\r" in value or b"\n" in value or b"\r" in name or b"\n" in name or b":" in name or not name:
        raise httpx.LocalProtocolError(f"invalid header {name!r}")
