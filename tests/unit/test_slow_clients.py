"""The body bound of api/slow_clients.py: ``receive`` is bounded until the body's last piece, not after."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from llm_gateway.api.slow_clients import DEFAULT_BOUNDS, _bounded_body, _raw_408, served_http
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
