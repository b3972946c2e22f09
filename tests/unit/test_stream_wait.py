"""The per-chunk wait of the SSE writer: done, timed out (a heartbeat), or cancelled, the read goes on."""

from __future__ import annotations

import asyncio

import pytest

from llm_gateway.core.streaming import _done_within


async def test_a_read_that_finishes_in_time() -> None:
    read = asyncio.ensure_future(asyncio.sleep(0.01, result="chunk"))
    assert await _done_within(read, 5) is True
    assert read.result() == "chunk"


async def test_a_silent_upstream_times_out_without_cancelling_the_read() -> None:
    read = asyncio.get_running_loop().create_future()
    assert await _done_within(read, 0.01) is False
    assert not read.done()
    read.set_result("late chunk")
    assert await _done_within(read, 0.01) is True


async def test_cancelling_the_waiter_leaves_the_read_running() -> None:
    read = asyncio.get_running_loop().create_future()
    waiting = asyncio.ensure_future(_done_within(read, 5))
    await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert not read.cancelled()
    read.set_result("chunk")
    assert await _done_within(read, 5) is True
