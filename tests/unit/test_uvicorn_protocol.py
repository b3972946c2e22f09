"""HeadWithBodyTransport: a response head goes out in one write with what follows it, never later than
the next turn of the event loop, and the bytes on the wire keep their order."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from llm_gateway.api.uvicorn_protocol import HeadWithBodyTransport

HEAD = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n"


class FakeTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.events: list[str] = []
        self.closing = False

    def write(self, data: Any) -> None:
        self.writes.append(bytes(data))

    def writelines(self, list_of_data: Iterable[Any]) -> None:
        self.writes.append(b"".join(bytes(d) for d in list_of_data))

    def close(self) -> None:
        self.events.append("close")
        self.closing = True

    def abort(self) -> None:
        self.events.append("abort")
        self.closing = True

    def write_eof(self) -> None:
        self.events.append("eof")

    def is_closing(self) -> bool:
        return self.closing

    def get_write_buffer_size(self) -> int:
        return 7

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 5)}.get(name, default)


def wrapped() -> tuple[HeadWithBodyTransport, FakeTransport]:
    inner = FakeTransport()
    return HeadWithBodyTransport(inner, asyncio.get_running_loop()), inner


async def test_a_head_goes_out_with_the_body_in_one_write() -> None:
    transport, inner = wrapped()
    transport.write(HEAD)
    assert inner.writes == []
    transport.write(b"ok")
    assert inner.writes == [HEAD + b"ok"]
    await asyncio.sleep(0)
    assert inner.writes == [HEAD + b"ok"]  # the flush left for the next turn finds nothing held


async def test_a_head_with_nothing_after_it_goes_out_on_the_next_turn() -> None:
    transport, inner = wrapped()
    transport.write(HEAD)
    await asyncio.sleep(0)
    assert inner.writes == [HEAD]
    transport.write(b"ok")
    assert inner.writes == [HEAD, b"ok"]


async def test_other_writes_pass_straight_through() -> None:
    transport, inner = wrapped()
    for piece in (b"data: 1\n\n", bytearray(b"data: 2\n\n"), memoryview(b"0\r\n\r\n")):
        transport.write(piece)
    assert inner.writes == [b"data: 1\n\n", b"data: 2\n\n", b"0\r\n\r\n"]


async def test_a_memoryview_head_and_body_join() -> None:
    transport, inner = wrapped()
    transport.write(memoryview(HEAD))
    transport.write(memoryview(b"ok"))
    assert inner.writes == [HEAD + b"ok"]


async def test_closing_sends_a_held_head_first() -> None:
    transport, inner = wrapped()
    transport.write(HEAD)
    transport.close()
    assert inner.writes == [HEAD]
    assert inner.events == ["close"]
    await asyncio.sleep(0)
    assert inner.writes == [HEAD]


async def test_write_eof_sends_a_held_head_first() -> None:
    transport, inner = wrapped()
    transport.write(HEAD)
    transport.write_eof()
    assert (inner.writes, inner.events) == ([HEAD], ["eof"])


async def test_abort_drops_a_held_head() -> None:
    transport, inner = wrapped()
    transport.write(HEAD)
    transport.abort()
    await asyncio.sleep(0)
    assert (inner.writes, inner.events) == ([], ["abort"])


async def test_a_held_head_is_not_written_to_a_closing_connection() -> None:
    transport, inner = wrapped()
    transport.write(HEAD)
    inner.closing = True  # the peer went away before the next turn
    await asyncio.sleep(0)
    assert inner.writes == []


async def test_writelines_keeps_the_held_head_in_front() -> None:
    transport, inner = wrapped()
    transport.write(HEAD)
    transport.writelines([b"o", b"k"])
    assert inner.writes == [HEAD + b"ok"]


async def test_a_second_head_goes_out_after_the_first() -> None:
    transport, inner = wrapped()
    transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    transport.write(HEAD)
    transport.write(b"ok")
    assert b"".join(inner.writes) == b"HTTP/1.1 100 Continue\r\n\r\n" + HEAD + b"ok"


async def test_the_buffer_size_counts_a_held_head() -> None:
    transport, _ = wrapped()
    assert transport.get_write_buffer_size() == 7
    transport.write(HEAD)
    assert transport.get_write_buffer_size() == 7 + len(HEAD)


async def test_everything_else_is_the_connection_s_own() -> None:
    transport, inner = wrapped()
    assert transport.get_extra_info("peername") == ("127.0.0.1", 5)
    assert transport.get_extra_info("sockname", "none") == "none"
    assert transport.is_closing() is False
    inner.closing = True
    assert transport.is_closing() is True
