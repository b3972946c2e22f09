"""Slow clients, over real sockets: a request's head and body must arrive within ``server.header_timeout``
and ``server.body_timeout``, or the client gets a 408 (an OpenAI error) and its connection is closed. The
answer is never bounded: a slow upstream stream runs to its end."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from llm_gateway.api.slow_clients import HTTP_ENV, SHIPPED_HTTP, served_http
from tests.support.fake_openai import FakeOpenAI, Reply
from tests.support.gateway import MASTER_KEY, openai_config, running_gateway
from tests.support.openai_schema import assert_error
from tests.support.servers import UvicornThread, wait_until

pytestmark = pytest.mark.slow

HEADER_TIMEOUT = 0.5
BODY_TIMEOUT = 0.5
HANG_STOP = 30.0  # stops a test that would hang; bounds nothing it shows
CHAT = b'{"model":"gpt-test","messages":[{"role":"user","content":"hi"}]}'


@pytest.fixture(params=["asyncio", "uvloop"])
def gateway(fake_openai: FakeOpenAI, request: pytest.FixtureRequest) -> Iterator[UvicornThread]:
    config = openai_config(fake_openai.v1)
    config["server"] = {"header_timeout": HEADER_TIMEOUT, "body_timeout": BODY_TIMEOUT}
    with running_gateway(config, uvloop=request.param == "uvloop") as server:
        yield server


def _connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=HANG_STOP)


def _until_closed(sock: socket.socket) -> bytes:
    """Everything the gateway sends until it closes the connection."""
    data = b""
    while piece := sock.recv(65536):
        data += piece
    return data


def _parse(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, body


def _assert_408(raw: bytes) -> dict[str, Any]:
    status, headers, body = _parse(raw)
    assert status == 408 and headers["connection"] == "close"
    payload: dict[str, Any] = json.loads(body)
    assert_error(payload)
    assert payload["error"]["code"] == "request_timeout"
    return payload


def _chat_head(length: int, *, key: str = MASTER_KEY) -> bytes:
    return (
        f"POST /v1/chat/completions HTTP/1.1\r\nhost: gw\r\nauthorization: Bearer {key}\r\n"
        f"content-type: application/json\r\ncontent-length: {length}\r\n\r\n"
    ).encode()


def test_a_head_that_never_ends_gets_a_408_and_is_closed(gateway: UvicornThread) -> None:
    opened_at = time.monotonic()  # the bound runs from the connection's opening, so measure from before it
    with _connect(gateway.port) as sock:
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nhost: gw\r\n")  # ... and nothing more
        raw = _until_closed(sock)
        closed_after = time.monotonic() - opened_at
    payload = _assert_408(raw)
    assert "headers" in payload["error"]["message"]
    assert closed_after >= HEADER_TIMEOUT * 0.9  # not before the bound (timers may fire a hair early)


def test_a_connection_that_sends_nothing_is_closed_too(gateway: UvicornThread) -> None:
    with _connect(gateway.port) as sock:
        _assert_408(_until_closed(sock))


def test_many_connections_dripping_header_lines_are_all_dropped(gateway: UvicornThread) -> None:
    count = 150

    async def drip(number: int) -> tuple[bytes, int]:
        reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
        writer.write(b"GET /v1/models HTTP/1.1\r\nhost: gw\r\n")
        lines = 0
        read = asyncio.ensure_future(reader.read())  # until the gateway closes the connection
        while not read.done() and lines < HANG_STOP * 10:
            writer.write(f"x-drip-{number}-{lines}: a line every 0.1 s\r\n".encode())  # each one a new byte
            lines += 1
            await asyncio.wait({read}, timeout=0.1)
        answer = await asyncio.wait_for(read, HANG_STOP)
        writer.close()
        return answer, lines

    async def all_of_them() -> list[tuple[bytes, int]]:
        return await asyncio.gather(*(drip(n) for n in range(count)))

    results = asyncio.run(all_of_them())
    assert len(results) == count
    for answer, lines in results:
        _assert_408(answer)
        assert lines < HANG_STOP * 10  # cut while still dripping
    with httpx.Client(base_url=gateway.base_url, headers={"authorization": f"Bearer {MASTER_KEY}"}) as client:
        assert client.get("/v1/models").status_code == 200  # and the gateway serves on


def test_a_body_at_a_byte_at_a_time_gets_a_408_and_is_closed(
    gateway: UvicornThread, fake_openai: FakeOpenAI, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="llm_gateway")
    body = CHAT + b" " * 1000
    with _connect(gateway.port) as sock:
        sock.sendall(_chat_head(len(body)))
        sock.settimeout(0.05)
        data, sent = b"", 0
        while sent < len(body):  # a byte every 50 ms: ~55 s for the whole body
            try:
                data = sock.recv(65536)
                break  # the gateway answered before the body was in
            except TimeoutError:
                pass
            try:
                sock.sendall(body[sent : sent + 1])
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += 1
        sock.settimeout(HANG_STOP)
        with_rest = data + _until_closed(sock)
    assert sent < len(body)  # cut while still sending
    payload = _assert_408(with_rest)
    assert "body" in payload["error"]["message"]
    assert not fake_openai.chat_requests()  # nothing went upstream
    wait_until(lambda: any(r.name == "llm_gateway.access" for r in caplog.records))
    (line,) = [r.fields for r in caplog.records if r.name == "llm_gateway.access"]  # type: ignore[attr-defined]
    assert (line["status"], line["error_code"]) == (408, "request_timeout")


def test_a_slow_stream_is_not_cut(gateway: UvicornThread, fake_openai: FakeOpenAI) -> None:
    words = " ".join(f"w{i}" for i in range(8))
    fake_openai.default = Reply(text=words, chunk_delay=0.25)  # ~2.5 s of answer: past both bounds, twice
    stream = json.dumps({"model": "gpt-test", "stream": True, "messages": [{"role": "user", "content": "hi"}]})
    with httpx.Client(base_url=gateway.base_url, headers={"authorization": f"Bearer {MASTER_KEY}"}) as client:
        started = time.monotonic()
        with client.stream("POST", "/v1/chat/completions", content=stream) as answer:
            text = "".join(answer.iter_text())
        lasted = time.monotonic() - started
        assert answer.status_code == 200 and text.endswith("data: [DONE]\n\n")
        assert all(f"w{i}" in text for i in range(8))
        assert lasted > HEADER_TIMEOUT + BODY_TIMEOUT  # the answer outlasted both bounds, and was not cut


def _one_answer(sock: socket.socket) -> tuple[int, bytes]:
    raw = b""
    while b"\r\n\r\n" not in raw:
        raw += sock.recv(65536)
    status, headers, body = _parse(raw)
    while len(body) < int(headers["content-length"]):
        body += sock.recv(65536)
    return status, body


def test_an_idle_keep_alive_connection_is_left_to_uvicorns_keep_alive_timer(gateway: UvicornThread) -> None:
    request = f"GET /v1/models HTTP/1.1\r\nhost: gw\r\nauthorization: Bearer {MASTER_KEY}\r\n\r\n".encode()
    with _connect(gateway.port) as sock:
        sock.sendall(request)
        assert _one_answer(sock)[0] == 200
        time.sleep(HEADER_TIMEOUT * 2)  # idle between requests is not a slow head (uvicorn's keep-alive: 5 s)
        sock.sendall(request)
        assert _one_answer(sock)[0] == 200  # the same connection, still open


def test_uvicorns_own_protocol_is_one_setting_away() -> None:
    assert served_http({}) == SHIPPED_HTTP
    assert served_http({HTTP_ENV: "httptools"}) == "httptools"
