"""After-response work: queued jobs run once the loop is quiet, in order, in their request's context."""

from __future__ import annotations

import asyncio
import contextvars
import logging

import pytest

from llm_gateway.config import ServerConfig
from llm_gateway.core.afterwards import Afterwards, defers_bookkeeping

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


class LoopClock:
    """The running loop's clock, moved only by the test: a timer fires when the test has advanced past it,
    never because the machine was slow. The test must then await nothing but :meth:`advance`."""

    def __init__(self) -> None:
        loop = asyncio.get_running_loop()
        self.now = float(round(loop.time()))  # whole seconds: steps of binary fractions add up exactly
        loop.time = lambda: self.now  # type: ignore[method-assign]

    async def advance(self, seconds: float, turns: int = 3) -> None:
        """Move the clock, then give the loop ``turns`` turns (one finds the timers due, the next runs them)."""
        self.now += seconds
        for _ in range(turns):
            await asyncio.sleep(0)


def test_off_or_outside_an_event_loop_a_job_runs_when_queued() -> None:
    ran: list[str] = []
    Afterwards(enabled=False).run(lambda: ran.append("off"))
    Afterwards().run(lambda: ran.append("no loop"))
    assert ran == ["off", "no loop"]


async def test_jobs_wait_for_a_quiet_loop_then_run_in_order_in_their_own_context() -> None:
    clock = LoopClock()
    # steps that are exact in binary: with 0.1 s steps, 0.1 + 0.1 + 0.2 fell one bit short of four steps
    # of 0.1 for some start times, and the queue did not run when the test said it was due
    afterwards = Afterwards(quiet=0.25, max_delay=1.0)
    ran: list[tuple[int, str]] = []
    for i in range(3):
        request_id.set(f"req-{i}")
        afterwards.run(lambda i=i: ran.append((i, request_id.get())))  # type: ignore[misc]
        await clock.advance(0.125)  # a job every 125 ms: never 250 ms of quiet
        assert ran == []
    assert afterwards.pending == 3
    await clock.advance(0.125)  # 250 ms since the last job
    assert ran == [(0, "req-0"), (1, "req-1"), (2, "req-2")]
    assert afterwards.pending == 0


async def test_a_steady_stream_of_jobs_waits_no_longer_than_max_delay() -> None:
    """A job every 10 ms never leaves the loop 50 ms of quiet: ``max_delay`` runs the queue."""
    clock = LoopClock()
    afterwards = Afterwards(quiet=0.05, max_delay=0.1)
    started = clock.now
    ran_at: list[float] = []
    while not ran_at and clock.now - started < 1:
        afterwards.run(lambda: ran_at.append(clock.now))
        await clock.advance(0.01)
    assert ran_at, "the queue never ran while jobs kept coming"
    assert ran_at[0] - started == pytest.approx(0.1, abs=0.011)  # the loop's clock, which only the test moves


async def test_a_long_queue_runs_in_batches_with_the_loop_free_in_between() -> None:
    afterwards = Afterwards(quiet=0.001, batch=16)
    events: list[str] = []
    for _ in range(40):
        afterwards.run(lambda: events.append("job"))

    async def other_work() -> None:  # another request, woken on every loop turn
        while afterwards.pending or "job" not in events:
            events.append("other")
            await asyncio.sleep(0)

    await asyncio.wait_for(other_work(), 2)
    runs = "".join("j" if e == "job" else "o" for e in events).split("o")
    assert [len(run) for run in runs if run] == [16, 16, 8]


async def test_a_queue_fed_faster_than_a_batch_per_turn_still_drains() -> None:
    clock = LoopClock()
    afterwards = Afterwards(quiet=0.001, max_delay=0.005, batch=16, max_pending=100_000)
    ran: list[int] = []
    for _ in range(300):  # a loop turn that ends 40 requests, 300 turns in a row: never quiet
        for i in range(40):
            afterwards.run(lambda i=i: ran.append(i))  # type: ignore[misc]
        await clock.advance(0.0002, turns=1)
    # draining a quarter of the queue per turn, the queue settles at a few turns' worth instead of growing
    assert afterwards.pending <= 4 * 40 + 40
    for _ in range(100):  # no more jobs: each turn drains a quarter, down to nothing
        if not afterwards.pending:
            break
        await clock.advance(0, turns=1)
    assert len(ran) == 300 * 40 and afterwards.pending == 0


async def test_a_failing_job_is_logged_and_counted_and_the_rest_still_run(caplog: pytest.LogCaptureFixture) -> None:
    afterwards = Afterwards(quiet=0.001)
    ran: list[int] = []

    def broken() -> None:
        raise ValueError("bookkeeping bug")

    afterwards.run(lambda: ran.append(1))
    afterwards.run(broken)
    afterwards.run(lambda: ran.append(2))
    with caplog.at_level(logging.ERROR, logger="llm_gateway.afterwards"):
        await asyncio.sleep(0.02)
    assert ran == [1, 2] and afterwards.failed == 1
    assert "after-response job failed" in caplog.text and "bookkeeping bug" in caplog.text


async def test_flush_runs_everything_now_including_jobs_queued_by_jobs() -> None:
    afterwards = Afterwards(quiet=10)
    ran: list[str] = []
    afterwards.run(lambda: (ran.append("first"), afterwards.run(lambda: ran.append("queued by first"))))
    afterwards.run(lambda: ran.append("second"))
    afterwards.flush()
    assert ran == ["first", "second", "queued by first"]
    assert afterwards.pending == 0
    await asyncio.sleep(0)  # the cancelled timer does not run anything twice
    assert len(ran) == 3


async def test_a_job_that_flushes_mid_batch_does_not_break_the_batch() -> None:
    afterwards = Afterwards(quiet=0.001, batch=8)
    ran: list[int] = []
    afterwards.run(afterwards.flush)
    for i in range(5):
        afterwards.run(lambda i=i: ran.append(i))  # type: ignore[misc]
    await asyncio.sleep(0.02)
    assert ran == [0, 1, 2, 3, 4] and afterwards.failed == 0


async def test_a_full_queue_runs_at_once() -> None:
    afterwards = Afterwards(quiet=10, max_pending=3)
    ran: list[int] = []
    for i in range(3):
        afterwards.run(lambda i=i: ran.append(i))  # type: ignore[misc]
    assert ran == [0, 1, 2] and afterwards.pending == 0


def test_jobs_left_by_a_closed_loop_run_before_the_next_loop_queues_any() -> None:
    afterwards = Afterwards(quiet=10)
    ran: list[str] = []

    async def queue(name: str) -> None:
        afterwards.run(lambda: ran.append(name))

    asyncio.run(queue("first loop"))  # its timer dies with its loop
    assert ran == []
    asyncio.run(queue("second loop"))
    assert ran == ["first loop"]
    afterwards.flush()
    assert ran == ["first loop", "second loop"]


@pytest.mark.parametrize(
    ("setting", "env", "expected"),
    [
        (None, {}, True),
        (None, {"AWS_LAMBDA_FUNCTION_NAME": "gateway"}, False),  # Lambda may freeze the process after a response
        (True, {"AWS_LAMBDA_FUNCTION_NAME": "gateway"}, True),
        (False, {}, False),
    ],
)
def test_on_by_default_except_under_lambda(setting: bool | None, env: dict[str, str], expected: bool) -> None:
    assert defers_bookkeeping(ServerConfig(defer_bookkeeping=setting), env) is expected
