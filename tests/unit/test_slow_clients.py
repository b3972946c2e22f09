"""The body bound of api/slow_clients.py: ``receive`` is bounded until the body's last piece, not after."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from bench.protocol_cost import Transport

from llm_gateway.api.slow_clients import (
    DEFAULT_BOUNDS,
    STATE_KEY,
    BoundedHttpTools,
    _bounded_body,
    _raw_408,
    served_http,
)
from llm_gateway.config import ServerConfig
from llm_gateway.errors import RequestTimeoutError


def _channel(*messages: dict[str, Any]) -> Any:
    """A receive channel that hands out ``messages``, then waits for ever."""
    queue: list[dict[str, Any]] = list(messages)

    async def receive() -> dict[str, Any]:
        if queue:
            return queue.pop(0)
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    return receive


async def test_a_body_still_coming_at_the_deadline_is_a_408() -> None:
    loop = asyncio.get_running_loop()
    piece = {"type": "http.request", "body": b"{", "more_body": True}
    receive = _bounded_body(_channel(piece), loop.time(), DEFAULT_BOUNDS)
    assert await receive() == piece  # a piece already there is taken, deadline or not
    with pytest.raises(RequestTimeoutError) as info:
        await receive()  # the rest is not coming before the deadline
    assert info.value.status_code == 408 and info.value.code == "request_timeout"
    assert info.value.headers == {"connection": "close"}


async def test_once_the_body_is_in_receive_is_not_bounded() -> None:
    loop = asyncio.get_running_loop()
    inner = _channel({"type": "http.request", "body": b"{}", "more_body": False}, {"type": "http.disconnect"})
    receive = _bounded_body(inner, loop.time() + 3600, DEFAULT_BOUNDS)
    assert (await receive())["body"] == b"{}"
    assert (await receive())["type"] == "http.disconnect"


async def test_a_disconnect_before_the_end_of_the_body_ends_the_bound() -> None:
    loop = asyncio.get_running_loop()
    receive = _bounded_body(_channel({"type": "http.disconnect"}), loop.time() + 3600, DEFAULT_BOUNDS)
    assert (await receive())["type"] == "http.disconnect"


def test_the_raw_408_is_one_whole_http_answer() -> None:
    raw = _raw_408(DEFAULT_BOUNDS)
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 ") and b"connection: close" in head
    assert f"content-length: {len(body)}".encode() in head
    assert b'"code":"request_timeout"' in body and b"10 seconds" in body


def test_defaults_and_the_library_path() -> None:
    assert (ServerConfig().header_timeout, ServerConfig().body_timeout) == (10.0, 60.0)
    assert served_http({"LLM_GATEWAY_HTTP": "h11"}) == "h11"


async def _receives(*pieces: bytes) -> list[Any]:
    """The ``receive`` each request's app is handed by the gateway's protocol, fed ``pieces``."""
    from uvicorn.config import Config
    from uvicorn.server import ServerState

    handed: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        handed.append(receive)
        while (await receive()).get("more_body"):
            pass
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    config = Config(app=app, lifespan="off", log_level="warning", access_log=False, proxy_headers=False)
    config.load()
    loop = asyncio.get_running_loop()
    protocol = BoundedHttpTools(config, ServerState(), {STATE_KEY: DEFAULT_BOUNDS}, loop)
    transport = Transport(keep=True)
    protocol.connection_made(transport)
    for piece in pieces:
        protocol.data_received(piece)
        for _ in range(5):
            await asyncio.sleep(0)
    protocol.connection_lost(None)
    assert transport.data.count(b"HTTP/1.1 200 OK") == len(handed)
    return handed


async def test_a_body_that_came_with_its_head_needs_no_bound() -> None:
    head = b"POST /v1/chat/completions HTTP/1.1\r\nhost: gw\r\ncontent-length: 2\r\n\r\n"
    (whole,) = await _receives(head + b"{}")
    (coming,) = await _receives(head, b"{", b"}")
    assert getattr(whole, "__name__", None) == "receive"  # uvicorn's own: its body is in, nothing to wait for
    assert getattr(coming, "__name__", None) == "bounded"  # the rest is still to come: bounded
