"""Idempotency records on both stores: claim, conflict, lease expiry, owner-only finish and release."""

from __future__ import annotations

import pytest

from llm_gateway.idempotency.store import IdempotencyRecord, IdempotencyStore
from llm_gateway.scopes import idempotency_pk as record_key
from llm_gateway.tables.memory import MemoryTable
from tests.support.routing import moto_state_table

NOW = 1_800_000_000.0
KEY = record_key("alice", "order-1")


@pytest.fixture(params=["memory", pytest.param("dynamodb", marks=pytest.mark.slow)])
def store(request: pytest.FixtureRequest) -> IdempotencyStore:
    if request.param == "memory":
        return IdempotencyStore(MemoryTable())
    return IdempotencyStore(moto_state_table(request))


def pending(owner: str, until: float = NOW + 60, body: str = "h1") -> IdempotencyRecord:
    return IdempotencyRecord(status="in_progress", body_hash=body, owner=owner, expires_at=until)


def done(owner: str) -> IdempotencyRecord:
    return IdempotencyRecord(
        status="completed",
        body_hash="h1",
        owner=owner,
        expires_at=NOW + 86400,
        kind="complete",
        payload=b"\x78\x9c stored",
        model_group="g",
        deployment_id="g/openai/m",
    )


def test_keys_are_hashed_and_scoped_to_the_caller() -> None:
    assert record_key("alice", "k") != record_key("bob", "k")
    assert "order-1" not in KEY


async def test_the_first_claim_wins_and_a_second_sees_it(store: IdempotencyStore) -> None:
    assert await store.claim(KEY, pending("one"), now=NOW) is None
    holder = await store.claim(KEY, pending("two"), now=NOW + 1)
    assert holder is not None
    assert (holder.owner, holder.status, holder.body_hash) == ("one", "in_progress", "h1")


async def test_a_finished_record_comes_back_whole(store: IdempotencyStore) -> None:
    await store.claim(KEY, pending("one"), now=NOW)
    await store.finish(KEY, done("one"))
    record = await store.claim(KEY, pending("two"), now=NOW + 5)
    assert record == done("one")


async def test_an_abandoned_claim_can_be_taken_after_its_lease(store: IdempotencyStore) -> None:
    await store.claim(KEY, pending("crashed", until=NOW + 10), now=NOW)
    assert await store.claim(KEY, pending("next", until=NOW + 80), now=NOW + 11) is None
    await store.finish(KEY, done("crashed"))  # the old owner comes back late: its answer is dropped
    holder = await store.claim(KEY, pending("third"), now=NOW + 12)
    assert holder is not None
    assert holder.owner == "next"


async def test_only_the_owner_releases(store: IdempotencyStore) -> None:
    await store.claim(KEY, pending("one"), now=NOW)
    await store.release(KEY, "someone-else")
    assert await store.claim(KEY, pending("two"), now=NOW) is not None
    await store.release(KEY, "one")
    assert await store.claim(KEY, pending("two"), now=NOW) is None
