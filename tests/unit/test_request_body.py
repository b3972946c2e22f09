"""Reading a chat request: its headers once, and its body straight from the ASGI channel, within the limit."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.requests import Request

from llm_gateway.api.body import read_body
from llm_gateway.api.context import plain_headers
from llm_gateway.errors import InvalidRequestError, PayloadTooLargeError


def _request(messages: list[dict[str, Any]], headers: dict[str, str] | None = None) -> Request:
    pending = list(messages)

    async def receive() -> dict[str, Any]:
        return pending.pop(0)

    raw = [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
    return Request({"type": "http", "method": "POST", "path": "/", "headers": raw}, receive)


def _piece(body: bytes, more: bool = False) -> dict[str, Any]:
    return {"type": "http.request", "body": body, "more_body": more}


def test_plain_headers_are_read_once_with_the_first_of_a_repeated_name() -> None:
    scope = {"headers": [(b"Authorization", b"Bearer a"), (b"x-request-id", b"r1"), (b"authorization", b"Bearer b")]}
    assert plain_headers(scope) == {"authorization": "Bearer a", "x-request-id": "r1"}
    assert plain_headers({"headers": []}) == {}


async def test_a_body_in_pieces_is_joined() -> None:
    request = _request([_piece(b'{"a":', more=True), _piece(b"", more=True), _piece(b"1}")])
    assert await read_body(request, 1024) == b'{"a":1}'


async def test_a_body_in_one_piece_and_an_empty_body() -> None:
    assert await read_body(_request([_piece(b"{}")]), 1024) == b"{}"
    assert await read_body(_request([_piece(b"")]), 1024) == b""


async def test_a_body_over_the_limit_is_refused_as_it_grows() -> None:
    request = _request([_piece(b"x" * 600, more=True), _piece(b"x" * 600, more=True)])  # never reads a third piece
    with pytest.raises(PayloadTooLargeError):
        await read_body(request, 1024)


async def test_a_declared_length_over_the_limit_is_refused_before_reading() -> None:
    request = _request([], {"content-length": "5000"})  # receiving anything would fail: nothing to pop
    with pytest.raises(PayloadTooLargeError):
        await read_body(request, 1024)
    with pytest.raises(PayloadTooLargeError):
        await read_body(request, 1024, {"content-length": "5000"})  # the headers already read


async def test_a_content_length_that_is_not_a_number_is_a_400() -> None:
    with pytest.raises(InvalidRequestError, match="Content-Length"):
        await read_body(_request([], {"content-length": "lots"}), 1024)


async def test_a_client_that_leaves_mid_body_is_a_400() -> None:
    request = _request([_piece(b'{"a":', more=True), {"type": "http.disconnect"}])
    with pytest.raises(InvalidRequestError, match="disconnected before sending the whole body"):
        await read_body(request, 1024)
