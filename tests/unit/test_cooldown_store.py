"""The cooldown policy over both stores (memory, and DynamoDB on moto), and the health tracker's cache and
outage fallback."""

from __future__ import annotations

from typing import Any

import pytest

from llm_gateway.config import DeploymentConfig
from llm_gateway.errors import UpstreamStatusError
from llm_gateway.providers.base import Deployment
from llm_gateway.routing.config import RouterConfig
from llm_gateway.routing.cooldowns import CooldownPolicy, CooldownStore
from llm_gateway.routing.health import HealthTracker
from llm_gateway.tables.base import TableUnavailable
from llm_gateway.tables.dynamodb import DynamoTable, fixed_client
from llm_gateway.tables.memory import MemoryTable
from tests.support.routing import CountingDynamo, FakeTime, moto_state_table

POLICY = CooldownPolicy(allowed_fails=3, failure_window=60, cooldown_seconds=30, max_cooldown=300)
NOW = 1_800_000_000.0


@pytest.fixture(params=["memory", pytest.param("dynamodb", marks=pytest.mark.slow)])
def store(request: pytest.FixtureRequest) -> CooldownStore:
    if request.param == "memory":
        return CooldownStore(MemoryTable())
    return CooldownStore(moto_state_table(request))


async def fail(store: CooldownStore, now: float, known: Any = None, **kwargs: Any) -> Any:
    return await store.record_failure("g", "d1", now=now, policy=POLICY, known=known, **kwargs)


async def test_allowed_fails_within_the_window_trip_a_cooldown(store: CooldownStore) -> None:
    assert (await fail(store, NOW)).fails == 1
    assert (await fail(store, NOW + 10)).fails == 2
    tripped = await fail(store, NOW + 20)
    assert tripped.cooldown_until == NOW + 50
    assert tripped.fails == 0
    seen = (await store.read_group("g", now=NOW + 21))["d1"]
    assert seen.cooling(NOW + 21)
    assert not seen.cooling(NOW + 51)


async def test_a_stale_known_state_still_counts_correctly(store: CooldownStore) -> None:
    """The caller's cached copy may say "no window" while another instance started one (or vice versa)."""
    first = await fail(store, NOW)
    assert (await fail(store, NOW + 1, known=None)).fails == 2  # believed no window: start fails, ADD wins
    assert (await fail(store, NOW + 100, known=first)).fails == 1  # believed a live window: it had expired


async def test_a_rate_limit_cools_down_at_once_for_its_retry_after_capped(store: CooldownStore) -> None:
    health = await fail(store, NOW, retry_after=45.0, reason="rate_limit")
    assert health.cooldown_until == NOW + 45
    capped = await store.record_failure("g", "d2", now=NOW, policy=POLICY, retry_after=9999.0)
    assert capped.cooldown_until == NOW + 300


async def test_a_cooldown_is_never_shortened(store: CooldownStore) -> None:
    await fail(store, NOW, retry_after=100.0)
    await fail(store, NOW + 1, retry_after=5.0)
    assert (await store.read_group("g", now=NOW + 2))["d1"].cooldown_until == NOW + 100


async def test_clear_forgets_the_deployment(store: CooldownStore) -> None:
    await fail(store, NOW, retry_after=10.0)
    await store.clear("g", "d1")
    assert "d1" not in await store.read_group("g", now=NOW)


async def test_groups_are_separate(store: CooldownStore) -> None:
    await fail(store, NOW, retry_after=10.0)
    assert await store.read_group("other", now=NOW) == {}


@pytest.mark.slow
async def test_expired_items_are_ignored_on_read(dynamodb_tables: dict[str, str], moto_endpoint: str) -> None:
    dynamo = CountingDynamo(moto_endpoint)
    store = CooldownStore(DynamoTable(fixed_client(dynamo.client), dynamodb_tables["LLM_GATEWAY_STATE_TABLE"]))
    await fail(store, NOW)
    assert "d1" in await store.read_group("g", now=NOW + 60)
    assert await store.read_group("g", now=NOW + 10_000) == {}  # past expires_at; moto never deletes it


class BrokenTable(MemoryTable):
    """A table that fails every call while ``broken``, counting the calls."""

    def __init__(self) -> None:
        super().__init__()
        self.broken = True
        self.calls = 0

    def _call(self) -> None:
        self.calls += 1
        if self.broken:
            raise TableUnavailable("down")

    async def query(self, *args: Any, **kwargs: Any) -> Any:
        self._call()
        return await super().query(*args, **kwargs)

    async def update(self, *args: Any, **kwargs: Any) -> Any:
        self._call()
        return await super().update(*args, **kwargs)

    async def delete(self, *args: Any, **kwargs: Any) -> Any:
        self._call()
        return await super().delete(*args, **kwargs)


def broken_store() -> tuple[CooldownStore, BrokenTable]:
    table = BrokenTable()
    return CooldownStore(table), table


def dep(model: str) -> Deployment:
    config = DeploymentConfig(name="g", provider="openai", model=model)
    return Deployment(id=model, group="g", provider="openai", model=model, config=config)


async def test_tracker_reads_the_shared_store_once_per_ttl() -> None:
    clock = FakeTime()
    store, shared = broken_store()
    shared.broken = False
    tracker = HealthTracker(RouterConfig(state_cache_ttl=5), store, clock=clock.clock, monotonic=clock.monotonic)
    for _ in range(10):
        await tracker.view("g")
    assert shared.calls == 1
    clock.advance(5)
    await tracker.view("g")
    assert shared.calls == 2


async def test_tracker_falls_back_to_memory_and_retries_the_store_later() -> None:
    clock = FakeTime()
    store, shared = broken_store()
    config = RouterConfig(state_retry_after=30, allowed_fails=1)
    tracker = HealthTracker(config, store, clock=clock.clock, monotonic=clock.monotonic)
    assert await tracker.view("g") == {}
    await tracker.failure(dep("d1"), UpstreamStatusError("x", upstream_status=500))
    assert (await tracker.view("g"))["d1"].cooling(clock.clock())  # the local memory still knows
    assert shared.calls == 1  # no further calls while the store is considered down
    clock.advance(31)
    shared.broken = False
    await tracker.view("g")
    assert shared.calls == 2


async def test_a_success_on_a_clean_deployment_writes_nothing() -> None:
    clock = FakeTime()
    store, shared = broken_store()
    shared.broken = False
    tracker = HealthTracker(RouterConfig(), store, clock=clock.clock, monotonic=clock.monotonic)
    await tracker.view("g")
    calls = shared.calls
    await tracker.success(dep("d1"), 0.2)
    assert shared.calls == calls
    assert tracker.latency["d1"] == 0.2
