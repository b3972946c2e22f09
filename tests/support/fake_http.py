"""A tiny HTTP/1.1 server on raw asyncio sockets, for fake upstreams that must misbehave precisely.

A real framework cannot drop a connection mid-body, trickle bytes or send a broken chunked stream on
purpose; this can. Each fake provides ``handle(request, responder)``. The server runs its own event
loop in a background thread on a free loopback port, keeps connections alive, and records every
request and what became of it (completed, cut, or abandoned by the client).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from tests.support.servers import free_socket


@dataclass
class FakeRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    received_at: float
    client_gone_at: float | None = None
    outcome: str = "pending"  # completed | dropped | client_gone | pending

    def json(self) -> Any:
        return json.loads(self.body)


class ClientGone(Exception):
    """The client closed the connection while we were still answering."""


class Responder:
    def __init__(self, writer: asyncio.StreamWriter, request: FakeRequest) -> None:
        self._writer = writer
        self._request = request
        self._chunked = False
        self.closed = False

    async def _write(self, data: bytes) -> None:
        if self._writer.is_closing():
            raise ClientGone
        try:
            self._writer.write(data)
            await self._writer.drain()
        except (ConnectionError, RuntimeError) as exc:
            raise ClientGone from exc

    async def send(
        self, status: int, body: bytes | str | dict[str, Any] | list[Any], headers: dict[str, str] | None = None
    ) -> None:
        if isinstance(body, dict | list):
            payload = json.dumps(body).encode()
            content_type = "application/json"
        else:
            payload = body.encode() if isinstance(body, str) else body
            content_type = "text/plain"
        head = {"content-type": content_type, **(headers or {}), "content-length": str(len(payload))}
        await self._write(_head(status, head) + payload)
        self._request.outcome = "completed"

    async def start_stream(self, status: int = 200, headers: dict[str, str] | None = None) -> None:
        head = {"content-type": "text/event-stream", "transfer-encoding": "chunked", **(headers or {})}
        self._chunked = True
        await self._write(_head(status, head))

    async def write(self, data: bytes | str) -> None:
        raw = data.encode() if isinstance(data, str) else data
        if raw:
            await self._write(b"%x\r\n%s\r\n" % (len(raw), raw))

    async def end(self) -> None:
        if self._chunked:
            await self._write(b"0\r\n\r\n")
        self._request.outcome = "completed"

    async def drop(self) -> None:
        """Close the connection abruptly (no response, or a response cut mid-body)."""
        self._request.outcome = "dropped"
        self.closed = True
        transport = self._writer.transport
        with contextlib.suppress(Exception):
            sock = transport.get_extra_info("socket")
            if sock is not None:
                import socket
                import struct

                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()


_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 429: "Too Many Requests"}


def _head(status: int, headers: dict[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


@dataclass
class FakeHTTPServer:
    """Subclass and implement :meth:`handle`."""

    requests: list[FakeRequest] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._sock = free_socket()
        self.port = self._sock.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True, name=f"fake-{self.port}")
        self._server: asyncio.base_events.Server | None = None
        self._lock = threading.Lock()

    async def handle(self, request: FakeRequest, respond: Responder) -> None:
        raise NotImplementedError

    def start(self) -> FakeHTTPServer:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._start(), self._loop)
        future.result(timeout=10)
        return self

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._connection, sock=self._sock, limit=64 * 1024 * 1024)

    def stop(self) -> None:
        async def shutdown() -> None:
            if self._server is not None:
                self._server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(timeout=5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()

    async def _read_request(self, reader: asyncio.StreamReader) -> FakeRequest | None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            return None
        lines = head.decode("latin-1").split("\r\n")
        method, path, _ = lines[0].split(" ", 2)
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        body = b""
        if "content-length" in headers:
            body = await reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            parts = []
            while True:
                size = int((await reader.readline()).strip() or b"0", 16)
                if size == 0:
                    await reader.readline()
                    break
                parts.append(await reader.readexactly(size))
                await reader.readline()
            body = b"".join(parts)
        return FakeRequest(method, path, headers, body, time.monotonic())

    async def _watch_client(self, reader: asyncio.StreamReader, request: FakeRequest) -> None:
        # Poll instead of reading, so a keep-alive client's next request is never consumed here.
        while request.outcome == "pending":
            if reader.at_eof() or reader.exception() is not None:
                request.client_gone_at = time.monotonic()
                return
            await asyncio.sleep(0.01)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                request = await self._read_request(reader)
                if request is None:
                    break
                with self._lock:
                    self.requests.append(request)
                responder = Responder(writer, request)
                watcher = asyncio.ensure_future(self._watch_client(reader, request))
                try:
                    await self.handle(request, responder)
                except ClientGone:
                    request.outcome = "client_gone"
                    request.client_gone_at = request.client_gone_at or time.monotonic()
                    break
                finally:
                    if request.outcome == "pending" and request.client_gone_at is not None:
                        request.outcome = "client_gone"
                if responder.closed or request.outcome != "completed":
                    break
                if not watcher.done():
                    watcher.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await watcher
                elif request.client_gone_at is not None:
                    break
        except asyncio.CancelledError:
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()
