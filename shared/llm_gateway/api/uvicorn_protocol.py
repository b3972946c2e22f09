"""uvicorn's HTTP/1.1 protocol (httptools), writing each response head together with what follows it.

uvicorn writes a response in one ``transport.write`` per ASGI message: the status line and headers when
the app sends ``http.response.start``, then the body. On a keep-alive connection each write is a send
system call and a TCP segment of its own, and a client blocked on the socket (the Lambda Web Adapter, an
SDK) is woken by the head only to wait again for the body. With the benchmark's clients at concurrency 1,
the two writes of a 400-byte answer were a median 0.37 ms apart: the woken client ran before the body was
written.

:class:`GatewayHttpProtocol` is uvicorn's ``HttpToolsProtocol`` with its connection's transport wrapped in
:class:`HeadWithBodyTransport`, which holds a response head back until the next write, and sends both in
one. Nothing waits on it: a head with no write after it in the same turn of the event loop (a stream whose
first event is not ready yet) goes out on the next turn, and closing the connection sends it first. Bytes
and their order on the wire are unchanged.

Serve the app with it: ``uvicorn --http llm_gateway.api.uvicorn_protocol:GatewayHttpProtocol gateway:app``
(``handlers/run.sh``, ``make serve`` and the benchmark do).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

Data = bytes | bytearray | memoryview

PROTOCOL = "llm_gateway.api.uvicorn_protocol:GatewayHttpProtocol"
"""The ``--http`` value (``module:class``) that makes uvicorn serve with :class:`GatewayHttpProtocol`."""


class HeadWithBodyTransport(asyncio.Transport):
    """A transport that sends a response head (a write starting ``HTTP/``) with the write after it."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._transport = transport
        self._loop = loop
        self._held: Data | None = None

    def write(self, data: Data) -> None:
        held = self._held
        if held is not None:
            self._held = None
            self._transport.write(bytes(held) + data)
        elif data[:5] == b"HTTP/":
            self._held = data
            self._loop.call_soon(self._flush)
        else:
            self._transport.write(data)

    def writelines(self, list_of_data: Iterable[Data]) -> None:
        held, self._held = self._held, None
        self._transport.writelines([held, *list_of_data] if held is not None else list_of_data)

    def _flush(self) -> None:
        held, self._held = self._held, None
        if held is not None and not self._transport.is_closing():
            self._transport.write(held)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def write_eof(self) -> None:
        self._flush()
        self._transport.write_eof()

    def abort(self) -> None:
        self._held = None
        self._transport.abort()

    def can_write_eof(self) -> bool:
        return self._transport.can_write_eof()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._transport.get_extra_info(name, default)

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._transport.set_protocol(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._transport.get_protocol()

    def is_reading(self) -> bool:
        return self._transport.is_reading()

    def pause_reading(self) -> None:
        self._transport.pause_reading()

    def resume_reading(self) -> None:
        self._transport.resume_reading()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._transport.set_write_buffer_limits(high, low)

    def get_write_buffer_size(self) -> int:
        held = self._held
        return self._transport.get_write_buffer_size() + (len(held) if held is not None else 0)

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._transport.get_write_buffer_limits()


class GatewayHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol; each response head is sent in one write with its body."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.transport = HeadWithBodyTransport(transport, self.loop)
