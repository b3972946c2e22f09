"""Single flight: identical concurrent non-stream misses make one upstream call (in one process and
across instances); the others wait, within a bound, for the stored answer."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import openai
import pytest

from tests.support.cache import HI, cached_gateway
from tests.support.fake_openai import FakeOpenAI, Reply, Status
from tests.support.gateway import MASTER_KEY
from tests.support.servers import UvicornThread

pytestmark = pytest.mark.slow

N = 8


async def ask_all(
    gateways: list[UvicornThread], per_gateway: int, answered: list[tuple[str, str]] | None = None
) -> list[tuple[str, str]]:
    """Fire identical requests at once; returns (content, cache status) for each, in the order they were
    answered (also appended to ``answered`` as each answer comes, for a test that watches)."""
    answered = [] if answered is None else answered

    async def one(gateway: UvicornThread) -> None:
        client = openai.AsyncOpenAI(base_url=gateway.base_url + "/v1", api_key=MASTER_KEY, max_retries=0, timeout=60)
        async with client:
            raw = await client.chat.completions.with_raw_response.create(model="gpt-test", messages=HI)
        answered.append((raw.parse().choices[0].message.content or "", raw.headers["x-llm-gateway-cache"]))

    await asyncio.gather(*(one(g) for g in gateways for _ in range(per_gateway)))
    return answered


async def until(condition: Callable[[], object], what: str) -> None:
    """Wait for ``condition``; the limit only stops a hang (a minute), it bounds nothing the test shows."""
    for _ in range(6000):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never happened: {what}")


def in_flight(*gateways: UvicornThread) -> int:
    """Requests the gateways are serving now (uvicorn's own set of request tasks)."""
    return sum(len(g.server.server_state.tasks) for g in gateways)


async def test_concurrent_identical_misses_make_one_upstream_call(
    fake_openai: FakeOpenAI, cache_env: dict[str, str]
) -> None:
    leader_held = threading.Event()  # the upstream answers once all N requests are in the gateway
    fake_openai.default = Reply(text="only once", hold=leader_held)
    with cached_gateway(fake_openai, cache_env) as gateway:
        asking = asyncio.ensure_future(ask_all([gateway], N))
        try:
            await until(lambda: in_flight(gateway) == N and fake_openai.chat_requests(), "all N in, one upstream")
        finally:
            leader_held.set()
        results = await asking
        metrics = gateway.gateway.cache.metrics.snapshot()  # type: ignore[attr-defined]
    assert len(fake_openai.chat_requests()) == 1  # N - 1 upstream calls saved
    assert {content for content, _ in results} == {"only once"}
    assert sorted(status for _, status in results) == ["hit"] * (N - 1) + ["miss"]
    assert metrics["single_flight.leader"] == 1 and metrics["single_flight.shared_local"] == N - 1


async def test_single_flight_across_instances(fake_openai: FakeOpenAI, cache_env: dict[str, str]) -> None:
    leader_held = threading.Event()  # the upstream answers once all six requests are in the two gateways
    fake_openai.default = Reply(text="one call for all", hold=leader_held)
    cache = {"single_flight": {"poll_interval": 0.05}}
    with (
        cached_gateway(fake_openai, cache_env, cache=cache) as first,
        cached_gateway(fake_openai, cache_env, cache=cache) as second,
    ):
        asking = asyncio.ensure_future(ask_all([first, second], 3))
        try:
            # all six in, and the second instance's leader waiting on the first one's lease (not yet
            # past its cache lookup, it would find the stored answer and share nothing remotely)
            await until(
                lambda: (
                    in_flight(first, second) == 6
                    and fake_openai.chat_requests()
                    and sum(_remote_waits(g) for g in (first, second)) == 1
                ),
                "all six in, one instance waiting on the other's lease",
            )
        finally:
            leader_held.set()
        results = await asking
        remote = [g.gateway.cache.metrics.get("single_flight.shared_remote") for g in (first, second)]  # type: ignore[attr-defined]
    assert len(fake_openai.chat_requests()) == 1  # 5 of 6 upstream calls saved
    assert {content for content, _ in results} == {"one call for all"}
    assert sorted(remote) == [0, 1]  # the other instance's leader waited on the lease and read the table


def _remote_waits(gateway: UvicornThread) -> int:
    return int(gateway.gateway.cache.metrics.get("single_flight.remote_wait"))  # type: ignore[attr-defined]


async def test_waiting_is_bounded(fake_openai: FakeOpenAI, cache_env: dict[str, str]) -> None:
    """Followers wait ``single_flight.wait`` for the leader, then call upstream themselves: both are
    answered while the leader's upstream call is still held back, so neither waited for it."""
    leader_held = threading.Event()
    fake_openai.plan(Reply(text="slow leader", hold=leader_held))
    fake_openai.default = Reply(text="impatient follower")
    cache = {"single_flight": {"wait": 0.5}}
    answered: list[tuple[str, str]] = []
    with cached_gateway(fake_openai, cache_env, cache=cache) as gateway:
        leader = asyncio.ensure_future(ask_all([gateway], 1, answered))
        try:
            await until(fake_openai.chat_requests, "the leader's upstream call")
            followers = asyncio.ensure_future(ask_all([gateway], 2, answered))
            await until(lambda: len(answered) == 2, "both followers answered while the leader was held")
        finally:
            leader_held.set()
        await asyncio.gather(leader, followers)
        metrics = gateway.gateway.cache.metrics.snapshot()  # type: ignore[attr-defined]
    assert [content for content, _ in answered] == ["impatient follower", "impatient follower", "slow leader"]
    assert len(fake_openai.chat_requests()) == 3
    assert metrics["single_flight.waited_out"] == 2


async def test_a_failed_leader_releases_its_followers(fake_openai: FakeOpenAI, cache_env: dict[str, str]) -> None:
    """The followers are let go when the leader fails, not when their own wait (30 s) runs out."""
    leader_held = threading.Event()  # the leader's upstream fails once both followers wait on it
    fake_openai.plan(Status(400, message="the leader's call fails", hold=leader_held))
    fake_openai.default = Reply(text="after the leader failed")
    with cached_gateway(fake_openai, cache_env) as gateway:
        asking = asyncio.gather(
            ask_all([gateway], 1),
            _once_the_leader_is_upstream(fake_openai, ask_all([gateway], 2)),
            return_exceptions=True,
        )
        try:
            await until(lambda: _local_waits(gateway) == 2, "both followers waiting on the leader")
        finally:
            leader_held.set()
        leader, followers = await asking
        metrics = gateway.gateway.cache.metrics.snapshot()  # type: ignore[attr-defined]
    assert isinstance(leader, openai.APIStatusError) and leader.status_code == 400
    assert isinstance(followers, list) and {c for c, _ in followers} == {"after the leader failed"}
    assert len(fake_openai.chat_requests()) == 3
    assert metrics["single_flight.leader_gone"] == 2 and "single_flight.waited_out" not in metrics


def _local_waits(gateway: UvicornThread) -> int:
    return int(gateway.gateway.cache.metrics.get("single_flight.local_wait"))  # type: ignore[attr-defined]


async def _once_the_leader_is_upstream(fake_openai: FakeOpenAI, work: Any) -> Any:
    await until(fake_openai.chat_requests, "the leader's upstream call")
    return await work
