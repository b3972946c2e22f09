"""The thinking store behind its interface: DynamoDB StateTable (moto over HTTP) and process memory."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from llm_gateway.providers.thinking.store import ThinkingStore, memory_thinking_store
from llm_gateway.scopes import thinking_key as entry_key
from tests.support.routing import moto_state_table

BLOCKS = [{"type": "thinking", "thinking": "Use the tool. " * 200, "signature": "EqQBsig=="}]


@pytest.fixture(params=["memory", pytest.param("dynamodb", marks=pytest.mark.slow)])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[ThinkingStore]:
    if request.param == "memory":
        yield memory_thinking_store()
        return
    yield ThinkingStore(moto_state_table(request))


async def test_blocks_come_back_for_the_same_caller_and_call_only(store: ThinkingStore) -> None:
    await store.put(entry_key("key-a", "toolu_1"), BLOCKS, expires_at=2000)
    assert await store.get(entry_key("key-a", "toolu_1"), now=1000) == BLOCKS
    assert await store.get(entry_key("key-b", "toolu_1"), now=1000) is None  # another caller's key
    assert await store.get(entry_key("key-a", "toolu_2"), now=1000) is None


async def test_an_expired_entry_is_gone_even_before_dynamodb_deletes_it(store: ThinkingStore) -> None:
    await store.put(entry_key("key-a", "toolu_1"), BLOCKS, expires_at=2000)
    assert await store.get(entry_key("key-a", "toolu_1"), now=2001.5) is None


def test_keys_are_built_from_structured_parts() -> None:
    # "a#b" + "c" and "a" + "b#c" must not meet
    assert entry_key("a#b", "c") != entry_key("a", "b#c")
    assert entry_key("a", "b").startswith("thinking#")
