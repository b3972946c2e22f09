"""``within``: asyncio.timeout's behaviour, with nested bounds of one task sharing the earliest timer."""

from __future__ import annotations

import asyncio

import pytest

from llm_gateway.timeouts import within


async def test_a_block_that_finishes_in_time_is_left_alone() -> None:
    async with within(1) as bound:
        await asyncio.sleep(0.001)
    assert not bound.expired
    await asyncio.sleep(0.002)  # no stray cancellation arrives later


async def test_a_block_that_runs_out_raises_timeout_error() -> None:
    with pytest.raises(TimeoutError):
        async with within(0.01) as bound:
            await asyncio.sleep(1)
    assert bound.expired
    assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]


async def test_no_delay_means_no_bound_and_a_spent_delay_fires_at_the_first_await() -> None:
    async with within(None):
        await asyncio.sleep(0.001)
    with pytest.raises(TimeoutError):
        async with within(-1):
            await asyncio.sleep(0)


async def test_a_tighter_inner_bound_fires_inside_the_outer_one() -> None:
    async with within(1) as outer:
        with pytest.raises(TimeoutError):
            async with within(0.01):
                await asyncio.sleep(1)
        await asyncio.sleep(0.001)
    assert not outer.expired


@pytest.mark.parametrize("inner_delay", [0.02, 10.0])
async def test_a_looser_inner_bound_lets_the_outer_one_fire(inner_delay: float) -> None:
    reached_inner_exit = False
    with pytest.raises(TimeoutError):
        async with within(0.02) as outer:
            try:
                async with within(inner_delay) as inner:
                    await asyncio.sleep(1)
            except asyncio.CancelledError:
                reached_inner_exit = True
                raise
    assert outer.expired and not inner.expired and reached_inner_exit


async def test_a_cancellation_from_outside_goes_through_as_cancellation() -> None:
    async def body() -> None:
        async with within(10):
            await asyncio.sleep(1)

    task = asyncio.create_task(body())
    await asyncio.sleep(0.001)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_errors_inside_the_block_go_through_and_the_timer_is_disarmed() -> None:
    with pytest.raises(ValueError, match="boom"):
        async with within(0.01):
            raise ValueError("boom")
    await asyncio.sleep(0.03)  # the disarmed timer does not cancel this task later


async def test_a_child_task_arms_its_own_timer_under_a_parent_bound() -> None:
    async def child() -> str:
        try:
            async with within(0.01):
                await asyncio.sleep(1)
        except TimeoutError:
            return "child timed out"
        return "child finished"

    async with within(10):
        outcome = await asyncio.create_task(child())
    assert outcome == "child timed out"


async def test_a_bound_set_after_an_expired_one_starts_afresh() -> None:
    with pytest.raises(TimeoutError):
        async with within(0.005):
            await asyncio.sleep(1)
    async with within(1):
        await asyncio.sleep(0.01)
