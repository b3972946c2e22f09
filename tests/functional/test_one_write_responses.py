"""Over a real socket: the gateway's uvicorn protocol sends each response head in the same write as its
body, sends a head whose body is late without waiting for it, and puts the same bytes on the wire as
uvicorn's own protocol."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Iterator
from typing import Any, ClassVar

import httpx
import pytest
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from llm_gateway.api.app import create_app
from llm_gateway.api.uvicorn_protocol import GatewayHttpProtocol, HeadWithBodyTransport
from tests.support.gateway import MASTER_KEY, make_gateway
from tests.support.servers import UvicornThread

pytestmark = pytest.mark.slow

CONFIG = {
    "models": [
        {"name": "mock", "provider": "mock", "model": "mock-1"},
        {"name": "mock-slow", "provider": "mock", "model": "mock-1", "chunk_delay_ms": 50},
    ]
}
AUTH = {"authorization": f"Bearer {MASTER_KEY}"}


class Recorder(HeadWithBodyTransport):
    """Passes every write straight to the connection's transport, keeping a copy (everything else is
    :class:`HeadWithBodyTransport`'s delegation)."""

    def __init__(self, transport: asyncio.Transport, writes: list[bytes]) -> None:
        super().__init__(transport, asyncio.get_running_loop())
        self._writes = writes

    def write(self, data: Any) -> None:
        self._writes.append(bytes(data))
        self._transport.write(data)


class RecordedGatewayProtocol(GatewayHttpProtocol):
    writes: ClassVar[list[bytes]] = []

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(Recorder(transport, self.writes))


@pytest.fixture(scope="module")
def gateway() -> Iterator[UvicornThread]:
    server = UvicornThread(create_app(make_gateway(CONFIG)), http=RecordedGatewayProtocol).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def _fresh_record() -> None:
    RecordedGatewayProtocol.writes.clear()


def responses_written() -> list[bytes]:
    return [w for w in RecordedGatewayProtocol.writes if w.startswith(b"HTTP/1.1 ")]


def test_a_completion_is_one_write(gateway: UvicornThread) -> None:
    body = {"model": "mock", "messages": [{"role": "user", "content": "hello"}]}
    response = httpx.post(gateway.base_url + "/v1/chat/completions", headers=AUTH, json=body)
    assert response.status_code == 200
    assert len(RecordedGatewayProtocol.writes) == 1
    head, _, content = RecordedGatewayProtocol.writes[0].partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert json.loads(content) == response.json()


def test_an_error_is_one_write(gateway: UvicornThread) -> None:
    response = httpx.post(gateway.base_url + "/v1/chat/completions", json={"model": "mock"})
    assert response.status_code == 401
    assert len(RecordedGatewayProtocol.writes) == 1
    assert RecordedGatewayProtocol.writes[0].endswith(response.content)


def test_a_stream_carries_its_head_with_the_first_event_and_every_byte_in_order(gateway: UvicornThread) -> None:
    body = {"model": "mock-slow", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    raw = raw_exchange(gateway.port, body)
    assert raw == b"".join(RecordedGatewayProtocol.writes)
    first = RecordedGatewayProtocol.writes[0]
    assert first.startswith(b"HTTP/1.1 200 OK\r\n") and b"data: {" in first
    assert raw.endswith(b"data: [DONE]\n\n\r\n0\r\n\r\n")
    assert len(responses_written()) == 1


def raw_exchange(port: int, body: dict[str, Any]) -> bytes:
    """One request on a fresh connection with ``Connection: close``; everything the server sent."""
    payload = json.dumps(body).encode()
    request = (
        f"POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer {MASTER_KEY}\r\n"
        f"content-type: application/json\r\ncontent-length: {len(payload)}\r\nconnection: close\r\n\r\n"
    ).encode() + payload
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        received = b""
        while piece := sock.recv(65536):
            received += piece
    return received


HEAD_SEEN = threading.Event()


async def late_body(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Sends its head at once and its body only once the client has read the head."""
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await asyncio.to_thread(HEAD_SEEN.wait, 30)
    await send({"type": "http.response.body", "body": b"late"})


def test_a_head_whose_body_is_late_is_not_held_back() -> None:
    """The body waits for the client to have read the head, so a protocol that held the head back for
    the body would leave the client with nothing: the head must arrive on its own."""
    HEAD_SEEN.clear()
    server = UvicornThread(late_body, lifespan="off", http=GatewayHttpProtocol).start()
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            head = sock.recv(65536)
            HEAD_SEEN.set()
            rest = b""
            while piece := sock.recv(65536):
                rest += piece
    finally:
        HEAD_SEEN.set()
        server.stop()
    assert head.startswith(b"HTTP/1.1 200 OK\r\n") and b"late" not in head
    assert (head + rest).endswith(b"4\r\nlate\r\n0\r\n\r\n")


async def echo(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    message = await receive()
    body = b"you sent: " + message.get("body", b"")
    headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 201, "headers": headers})
    await send({"type": "http.response.body", "body": body})


@pytest.mark.parametrize("protocol", [HttpToolsProtocol, GatewayHttpProtocol])
def test_the_bytes_on_the_wire_are_uvicorn_s_own(protocol: type[asyncio.Protocol]) -> None:
    server = UvicornThread(echo, lifespan="off", http=protocol, date_header=False).start()
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
            sock.sendall(b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\n\r\nhello" * 2)
            received = b""
            while received.count(b"you sent: hello") < 2:
                received += sock.recv(65536)
    finally:
        server.stop()
    one = (
        b"HTTP/1.1 201 Created\r\nserver: uvicorn\r\ncontent-type: text/plain\r\ncontent-length: 15\r\n\r\n"
        b"you sent: hello"
    )
    assert received == one * 2
