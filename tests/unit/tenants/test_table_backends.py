"""The same semantics from the in-memory table and the DynamoDB one (moto)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from llm_gateway.tenants.dynamo import DynamoTable
from llm_gateway.tenants.table import ConditionFailed, MemoryTable, Put, Table
from tests.support.tenants import dynamodb_client


@pytest.fixture(params=["memory", pytest.param("dynamodb", marks=pytest.mark.slow)])
def table(request: pytest.FixtureRequest) -> Iterator[Table]:
    if request.param == "memory":
        yield MemoryTable()
        return
    endpoint = request.getfixturevalue("moto_endpoint")
    tables = request.getfixturevalue("dynamodb_tables")
    yield DynamoTable(dynamodb_client(endpoint), tables["LLM_GATEWAY_STATE_TABLE"])


def test_add_counts_and_respects_bounds(table: Table) -> None:
    assert table.add("rl#a", "1", {"r": 1, "t": 5}, set_values={"expires_at": 99}) == {
        "pk": "rl#a",
        "sk": "1",
        "r": 1,
        "t": 5,
        "expires_at": 99,
    }
    assert table.add("rl#a", "1", {"r": 1, "t": 2.5}, below={"r": 2})["t"] == 7.5
    with pytest.raises(ConditionFailed) as failed:
        table.add("rl#a", "1", {"r": 1}, below={"r": 2})
    assert failed.value.item is not None and failed.value.item["r"] == 2
    assert table.add("rl#b", "1", {"r": 1}, below={"r": 0.5})["r"] == 1  # absent counts as under the bound


def test_transactions_are_all_or_nothing(table: Table) -> None:
    table.put({"pk": "key#1", "sk": "key", "v": 1})
    with pytest.raises(ConditionFailed):
        table.transact([Put({"pk": "key#2", "sk": "key"}), Put({"pk": "key#1", "sk": "key"}, if_absent=True)])
    assert table.get("key#2", "key") is None
    with pytest.raises(ConditionFailed):
        table.transact([Put({"pk": "key#1", "sk": "key", "v": 3}, if_equals={"v": 2})])
    table.transact([Put({"pk": "key#1", "sk": "key", "v": 3, "m": {"a": [1, "x"]}}, if_equals={"v": 1})])
    assert table.get("key#1", "key") == {"pk": "key#1", "sk": "key", "v": 3, "m": {"a": [1, "x"]}}


def test_query_and_scan(table: Table) -> None:
    for sk in ("day#2025-11-01#a", "day#2025-11-02#b", "day#2025-12-01#a", "period#monthly#2025-11"):
        table.add("spend#k", sk, {"cost_usd": 1})
    table.add("spend#j", "day#2025-11-01#a", {"cost_usd": 1})
    table.put({"pk": "other", "sk": "x"})
    found = table.query("spend#k", "day#2025-11-01", "day#2025-11-30#~")
    assert [i["sk"] for i in found] == ["day#2025-11-01#a", "day#2025-11-02#b"]
    assert len(table.scan("spend#")) == 5


def test_memory_table_caps_detail_records_but_keeps_sums() -> None:
    from llm_gateway.tenants.table import MemoryTable

    table = MemoryTable(capped_prefix="usage#", cap=3)
    for i in range(10):
        table.put({"pk": "usage#k1", "sk": f"{i:03d}", "cost": 1})
        table.add("spend#k1", "period#total", {"cost_usd": 1})
    assert [item["sk"] for item in table.query("usage#k1")] == ["007", "008", "009"]
    assert table.get("spend#k1", "period#total")["cost_usd"] == 10
    table.put({"pk": "usage#k1", "sk": "009", "cost": 2})  # replacing an item does not evict another
    assert len(table.query("usage#k1")) == 3
