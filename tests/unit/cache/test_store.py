"""The store's verbs on both backends: in memory and on DynamoDB (moto over HTTP, tables from template.yaml)."""

from __future__ import annotations

import base64
import os
from collections.abc import AsyncIterator
from typing import Any

import pytest

from llm_gateway.cache.store import CacheStore, EntryTooLarge, memory_cache_store
from llm_gateway.tables.dynamodb import DynamoTable, fixed_client

NOW = 1_800_000_000.0


def answer(text: str = "hello") -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
    }


def incompressible(size: int) -> str:
    return base64.b64encode(os.urandom(size)).decode()


@pytest.fixture(params=["memory", pytest.param("dynamodb", marks=pytest.mark.slow)])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[CacheStore]:
    limits: dict[str, Any] = {"max_item_bytes": 380_000, "max_parts": 4}
    if request.param == "memory":
        yield memory_cache_store(**limits)
        return
    import boto3

    endpoint = request.getfixturevalue("moto_endpoint")
    tables = request.getfixturevalue("dynamodb_tables")
    client = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1")
    yield CacheStore(DynamoTable(fixed_client(client), tables["LLM_GATEWAY_CACHE_TABLE"], timeout=10), **limits)


async def test_save_then_lookup(store: CacheStore) -> None:
    assert await store.lookup("k", NOW) is None
    size = await store.save("k", answer(), ttl=60, now=NOW)
    assert 0 < size < 400
    entry = await store.lookup("k", NOW + 10)
    assert entry is not None and entry.completion == answer()
    assert entry.age(NOW + 10.9) == 10 and entry.expires_at == NOW + 60


async def test_every_read_checks_expiry_itself(store: CacheStore) -> None:
    await store.save("k", answer(), ttl=60, now=NOW)
    assert await store.lookup("k", NOW + 59) is not None
    assert await store.lookup("k", NOW + 60) is None  # still in the table: DynamoDB deletes late, moto never


async def test_a_newer_answer_replaces_the_old_one(store: CacheStore) -> None:
    await store.save("k", answer("old"), ttl=60, now=NOW)
    await store.save("k", answer("new"), ttl=60, now=NOW + 1)
    entry = await store.lookup("k", NOW + 2)
    assert entry is not None and entry.completion == answer("new")


async def test_answers_over_one_item_are_split_and_joined(store: CacheStore) -> None:
    big = answer(incompressible(700_000))  # ~930 KB of text, ~700 KB compressed: two or three items
    size = await store.save("big", big, ttl=60, now=NOW)
    assert size > 380_000
    entry = await store.lookup("big", NOW)
    assert entry is not None and entry.completion == big


async def test_answers_over_the_part_limit_are_refused(store: CacheStore) -> None:
    with pytest.raises(EntryTooLarge):
        await store.save("huge", answer(incompressible(1_600_000)), ttl=60, now=NOW)
    assert await store.lookup("huge", NOW) is None


async def test_leases(store: CacheStore) -> None:
    assert await store.claim("k", owner="a", until=NOW + 10, now=NOW)
    assert await store.leased("k", NOW + 1)
    assert not await store.claim("k", owner="b", until=NOW + 10, now=NOW + 1)
    await store.release("k", owner="b")  # not b's lease: stays
    assert await store.leased("k", NOW + 2)
    assert await store.claim("k", owner="b", until=NOW + 30, now=NOW + 11)  # a's lease ran out
    await store.release("k", owner="b")
    assert not await store.leased("k", NOW + 12)
    assert await store.claim("k", owner="c", until=NOW + 20, now=NOW + 12)


async def test_memory_store_is_bounded() -> None:
    store = memory_cache_store(max_items=3)
    for name in "abcd":
        await store.save(name, answer(name), ttl=60, now=NOW)
    assert await store.lookup("a", NOW) is None
    assert [await store.lookup(name, NOW) is not None for name in "bcd"] == [True, True, True]
