"""Single flight: identical concurrent non-stream misses make one upstream call (in one process and
across instances); the others wait, within a bound, for the stored answer."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import openai
import pytest

from tests.support.cache import HI, cached_gateway
from tests.support.fake_openai import FakeOpenAI, Hang, Reply
from tests.support.gateway import MASTER_KEY
from tests.support.servers import UvicornThread

pytestmark = pytest.mark.slow

N = 8


async def ask_all(gateways: list[UvicornThread], per_gateway: int, **body: Any) -> list[tuple[str, str, float]]:
    """Fire identical requests at once; returns (content, cache status, seconds) for each."""
    started = time.monotonic()

    async def one(gateway: UvicornThread) -> tuple[str, str, float]:
        client = openai.AsyncOpenAI(base_url=gateway.base_url + "/v1", api_key=MASTER_KEY, max_retries=0, timeout=30)
        async with client:
            raw = await client.chat.completions.with_raw_response.create(model="gpt-test", messages=HI, **body)
        content = raw.parse().choices[0].message.content or ""
        return content, raw.headers["x-llm-gateway-cache"], time.monotonic() - started

    return await asyncio.gather(*(one(g) for g in gateways for _ in range(per_gateway)))


async def test_concurrent_identical_misses_make_one_upstream_call(
    fake_openai: FakeOpenAI, cache_env: dict[str, str]
) -> None:
    fake_openai.default = Reply(text="only once", delay=1.0)
    with cached_gateway(fake_openai, cache_env) as gateway:
        results = await ask_all([gateway], N)
        metrics = gateway.gateway.cache.metrics.snapshot()  # type: ignore[attr-defined]
    assert len(fake_openai.chat_requests()) == 1  # N - 1 upstream calls saved
    assert {content for content, _, _ in results} == {"only once"}
    assert sorted(status for _, status, _ in results) == ["hit"] * (N - 1) + ["miss"]
    assert metrics["single_flight.leader"] == 1 and metrics["single_flight.shared_local"] == N - 1


async def test_single_flight_across_instances(fake_openai: FakeOpenAI, cache_env: dict[str, str]) -> None:
    fake_openai.default = Reply(text="one call for all", delay=1.5)
    cache = {"single_flight": {"poll_interval": 0.05}}
    with (
        cached_gateway(fake_openai, cache_env, cache=cache) as first,
        cached_gateway(fake_openai, cache_env, cache=cache) as second,
    ):
        results = await ask_all([first, second], 3)
        remote = [g.gateway.cache.metrics.get("single_flight.shared_remote") for g in (first, second)]  # type: ignore[attr-defined]
    assert len(fake_openai.chat_requests()) == 1  # 5 of 6 upstream calls saved
    assert {content for content, _, _ in results} == {"one call for all"}
    assert sorted(remote) == [0, 1]  # the other instance's leader waited on the lease and read the table


async def test_waiting_is_bounded(fake_openai: FakeOpenAI, cache_env: dict[str, str]) -> None:
    fake_openai.plan(Reply(text="slow leader", delay=3.0))
    fake_openai.default = Reply(text="impatient follower")
    cache = {"single_flight": {"wait": 0.5}}
    with cached_gateway(fake_openai, cache_env, cache=cache) as gateway:
        results = await ask_all([gateway], 3)
        metrics = gateway.gateway.cache.metrics.snapshot()  # type: ignore[attr-defined]
    assert len(fake_openai.chat_requests()) == 3
    followers = [seconds for content, _, seconds in results if content == "impatient follower"]
    assert len(followers) == 2 and max(followers) < 2.5
    assert metrics["single_flight.waited_out"] == 2


async def test_a_failed_leader_releases_its_followers(fake_openai: FakeOpenAI, cache_env: dict[str, str]) -> None:
    fake_openai.plan(Hang())
    fake_openai.default = Reply(text="after the leader failed")
    with cached_gateway(fake_openai, cache_env, deployment={"timeout": 1.0}) as gateway:
        results = await asyncio.gather(
            ask_all([gateway], 1), _after(0.2, ask_all([gateway], 2)), return_exceptions=True
        )
    leader, followers = results
    assert isinstance(leader, openai.APIStatusError) and leader.status_code == 504
    assert isinstance(followers, list) and {c for c, _, _ in followers} == {"after the leader failed"}
    assert max(seconds for _, _, seconds in followers) < 5
    assert len(fake_openai.chat_requests()) == 3
    metrics = gateway.gateway.cache.metrics.snapshot()  # type: ignore[attr-defined]
    assert metrics["single_flight.leader_gone"] == 2 and "single_flight.waited_out" not in metrics


async def _after(seconds: float, work: Any) -> Any:
    await asyncio.sleep(seconds)
    return await work
