"""The same semantics from the in-memory table and the DynamoDB one (moto)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from llm_gateway.tables.base import ConditionFailed, Put, Table
from llm_gateway.tables.conditions import Condition, absent, below, equals
from llm_gateway.tables.dynamodb import DynamoTable, fixed_client
from llm_gateway.tables.memory import MemoryTable
from tests.support.tenants import dynamodb_client


@pytest.fixture(params=["memory", pytest.param("dynamodb", marks=pytest.mark.slow)])
def table(request: pytest.FixtureRequest) -> Iterator[Table]:
    if request.param == "memory":
        yield MemoryTable()
        return
    endpoint = request.getfixturevalue("moto_endpoint")
    tables = request.getfixturevalue("dynamodb_tables")
    yield DynamoTable(fixed_client(dynamodb_client(endpoint)), tables["LLM_GATEWAY_STATE_TABLE"])


def under(**bounds: float) -> Condition:
    condition: Condition | None = None
    for name, bound in bounds.items():
        part = absent(name) | below(name, bound)
        condition = part if condition is None else condition & part
    assert condition is not None
    return condition


async def test_add_counts_and_respects_bounds(table: Table) -> None:
    assert await table.update("rl#a", "1", add={"r": 1, "t": 5}, set_values={"expires_at": 99}) == {
        "pk": "rl#a",
        "sk": "1",
        "r": 1,
        "t": 5,
        "expires_at": 99,
    }
    assert (await table.update("rl#a", "1", add={"r": 1, "t": 2.5}, condition=under(r=2)))["t"] == 7.5
    with pytest.raises(ConditionFailed) as failed:
        await table.update("rl#a", "1", add={"r": 1}, condition=under(r=2))
    assert failed.value.item is not None and failed.value.item["r"] == 2
    assert (await table.update("rl#b", "1", add={"r": 1}, condition=under(r=0.5)))["r"] == 1  # absent: under


async def test_transactions_are_all_or_nothing(table: Table) -> None:
    await table.put({"pk": "key#1", "sk": "key", "v": 1})
    with pytest.raises(ConditionFailed):
        await table.transact([Put({"pk": "key#2", "sk": "key"}), Put({"pk": "key#1", "sk": "key"}, absent())])
    assert await table.get("key#2", "key") is None
    with pytest.raises(ConditionFailed):
        await table.transact([Put({"pk": "key#1", "sk": "key", "v": 3}, equals("v", 2))])
    await table.transact([Put({"pk": "key#1", "sk": "key", "v": 3, "m": {"a": [1, "x"]}}, equals("v", 1))])
    assert await table.get("key#1", "key") == {"pk": "key#1", "sk": "key", "v": 3, "m": {"a": [1, "x"]}}


async def test_query_and_scan(table: Table) -> None:
    for sk in ("day#2025-11-01#a", "day#2025-11-02#b", "day#2025-12-01#a", "period#monthly#2025-11"):
        await table.update("spend#k", sk, add={"cost_usd": 1})
    await table.update("spend#j", "day#2025-11-01#a", add={"cost_usd": 1})
    await table.put({"pk": "other", "sk": "x"})
    found = await table.query("spend#k", "day#2025-11-01", "day#2025-11-30#~")
    assert [i["sk"] for i in found] == ["day#2025-11-01#a", "day#2025-11-02#b"]
    assert len(await table.scan("spend#")) == 5


async def test_conditional_writes_hand_back_the_item_as_it_was(table: Table) -> None:
    item: dict[str, Any] = {"pk": "idem#k", "sk": "idem", "owner": "a", "expires_at": 100, "body": b"\x00\xff"}
    await table.put(item, condition=absent())
    with pytest.raises(ConditionFailed) as failed:
        await table.put({**item, "owner": "b"}, condition=absent())
    assert failed.value.item == item  # bytes stay bytes, whole numbers ints
    with pytest.raises(ConditionFailed):
        await table.delete("idem#k", "idem", condition=equals("owner", "b"))
    await table.delete("idem#k", "idem", condition=equals("owner", "a"))
    assert await table.get("idem#k", "idem", consistent=True) is None
    await table.put({"pk": "n", "sk": "n", "f": 0.1, "i": 3, "big": 1_764_000_000.123})
    assert await table.get("n", "n") == {"pk": "n", "sk": "n", "f": 0.1, "i": 3, "big": 1_764_000_000.123}


async def test_memory_table_caps_detail_records_but_keeps_sums() -> None:
    table = MemoryTable(capped_prefix="usage#", cap=3)
    for i in range(10):
        await table.put({"pk": "usage#k1", "sk": f"{i:03d}", "cost": 1})
        await table.update("spend#k1", "period#total", add={"cost_usd": 1})
    assert [item["sk"] for item in await table.query("usage#k1")] == ["007", "008", "009"]
    assert (await table.get("spend#k1", "period#total") or {})["cost_usd"] == 10
    await table.put({"pk": "usage#k1", "sk": "009", "cost": 2})  # replacing an item does not evict another
    assert len(await table.query("usage#k1")) == 3
