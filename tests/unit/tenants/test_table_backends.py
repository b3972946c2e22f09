"""The same semantics from the in-memory table and the DynamoDB one (moto)."""

from __future__ import annotations

from typing import Any

import pytest

from llm_gateway.tables.base import ConditionFailed, Put, Table
from llm_gateway.tables.conditions import Condition, absent, below, equals
from llm_gateway.tables.dynamodb import DynamoTable, fixed_client
from llm_gateway.tables.memory import MemoryTable
from tests.support.tenants import BACKENDS, backend_table, dynamodb_client


@pytest.fixture(params=BACKENDS)
def table(request: pytest.FixtureRequest) -> Table:
    return backend_table(request, "LLM_GATEWAY_STATE_TABLE")


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


async def test_batch_put_writes_every_item_in_calls_of_25(table: Table) -> None:
    items = [{"pk": "usage#k", "sk": f"{i:04d}", "n": i, "meta": {"team": "a"}} for i in range(60)]
    await table.batch_put(items)
    assert await table.query("usage#k") == items


@pytest.mark.slow
async def test_batch_put_sends_unprocessed_items_again_and_names_what_is_left(
    moto_endpoint: str, dynamodb_tables: dict[str, str]
) -> None:
    from llm_gateway.tables.base import BatchIncomplete

    client = dynamodb_client(moto_endpoint)
    name = dynamodb_tables["LLM_GATEWAY_USAGE_TABLE"]
    throttled = {"calls": 0}

    def leave_half(params: dict[str, Any], **_: Any) -> None:
        throttled["calls"] += 1
        requests = params["RequestItems"][name]
        # as DynamoDB under throttling: the last item is left unprocessed, every time
        nothing = {"DeleteRequest": {"Key": {"pk": {"S": "x"}, "sk": {"S": "x"}}}}
        params["RequestItems"][name] = requests[:-1] or [nothing]
        pending.extend(requests[-1:])

    pending: list[dict[str, Any]] = []

    def hand_back(parsed: dict[str, Any], **_: Any) -> None:
        if pending:
            parsed["UnprocessedItems"] = {name: list(pending)}
            pending.clear()

    client.meta.events.register("provide-client-params.dynamodb.BatchWriteItem", leave_half)
    client.meta.events.register("after-call.dynamodb.BatchWriteItem", hand_back)
    table = DynamoTable(fixed_client(client), name)
    items = [{"pk": "usage#k", "sk": f"{i:02d}"} for i in range(8)]
    with pytest.raises(BatchIncomplete) as failed:
        await table.batch_put(items)  # 7 written by the first call, then four more tries for the last one
    assert [i["sk"] for i in await table.query("usage#k")] == [f"{i:02d}" for i in range(7)]
    assert failed.value.unwritten == [{"pk": "usage#k", "sk": "07"}] and throttled["calls"] == 5


async def test_update_removes_attributes_and_checks_presence(table: Table) -> None:
    from llm_gateway.tables.conditions import present

    await table.update("spend#k", "p", add={"c": 5, "hold_1": 5})
    with pytest.raises(ConditionFailed):
        await table.update("spend#k", "p", add={"c": -1}, condition=present("hold_2"))
    after = await table.update("spend#k", "p", add={"c": -5}, remove=["hold_1"], condition=present("hold_1"))
    assert after == {"pk": "spend#k", "sk": "p", "c": 0}
