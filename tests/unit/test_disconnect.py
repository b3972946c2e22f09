"""unless_client_leaves: a request is cancelled when (and only when) its client disconnects first."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from llm_gateway.api.disconnect import ClientDisconnected, unless_client_leaves, watches_disconnects
from llm_gateway.config import ServerConfig


class Channel:
    """An ASGI receive channel whose disconnect the test triggers."""

    def __init__(self) -> None:
        self.gone = asyncio.Event()
        self.calls = 0

    async def receive(self) -> dict[str, Any]:
        self.calls += 1
        await self.gone.wait()
        return {"type": "http.disconnect"}


async def test_an_answer_made_in_time_is_returned_and_the_watcher_stops() -> None:
    channel = Channel()
    work = asyncio.sleep(0.03, result="answer")
    assert await unless_client_leaves(channel.receive, work, watch_after=0.01) == "answer"
    assert channel.calls == 1  # watched from 10 ms on
    channel.gone.set()  # the usual end-of-response disconnect, after the answer: changes nothing
    await asyncio.sleep(0.01)
    assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]


async def test_a_client_that_leaves_cancels_the_work() -> None:
    channel = Channel()
    cancelled = asyncio.Event()

    async def work() -> str:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return "never"

    asyncio.get_running_loop().call_later(0.01, channel.gone.set)
    with pytest.raises(ClientDisconnected) as raised:
        await unless_client_leaves(channel.receive, work(), watch_after=0)
    assert cancelled.is_set() and raised.value.status_code == 499
    assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]


async def test_a_quick_answer_is_not_watched_at_all() -> None:
    channel = Channel()
    assert await unless_client_leaves(channel.receive, asyncio.sleep(0.01, result="quick"), watch_after=0.05) == "quick"
    await asyncio.sleep(0.06)
    assert channel.calls == 0


async def test_a_client_gone_before_the_watch_starts_is_seen_when_it_does() -> None:
    channel = Channel()
    channel.gone.set()
    with pytest.raises(ClientDisconnected):
        await unless_client_leaves(channel.receive, asyncio.sleep(10), watch_after=0.02)


async def test_a_cancellation_from_elsewhere_stays_a_cancellation() -> None:
    channel = Channel()
    task = asyncio.create_task(unless_client_leaves(channel.receive, asyncio.sleep(10), watch_after=0))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_layer_that_turns_the_cancellation_into_its_own_error_still_reports_the_departure() -> None:
    channel = Channel()

    async def work() -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            raise RuntimeError("cleanup failed") from None

    asyncio.get_running_loop().call_later(0.01, channel.gone.set)
    with pytest.raises(ClientDisconnected):
        await unless_client_leaves(channel.receive, work(), watch_after=0)
    assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]


async def test_errors_of_the_work_go_through_untouched() -> None:
    async def work() -> None:
        raise ValueError("upstream said no")

    with pytest.raises(ValueError, match="upstream said no"):
        await unless_client_leaves(Channel().receive, work())


@pytest.mark.parametrize(
    ("setting", "env", "watching"),
    [
        (None, {}, True),
        (None, {"AWS_LAMBDA_FUNCTION_NAME": "gateway"}, False),
        (True, {"AWS_LAMBDA_FUNCTION_NAME": "gateway"}, True),
        (False, {}, False),
    ],
)
def test_watching_is_on_by_default_except_under_lambda(
    setting: bool | None, env: dict[str, str], watching: bool
) -> None:
    assert watches_disconnects(ServerConfig(cancel_on_client_disconnect=setting), env) is watching
