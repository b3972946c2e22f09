"""The ledger (batched records, aggregated sums, nothing dropped) and budget reservations, on both tables."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

from llm_gateway.tables.base import Table, TableUnavailable
from llm_gateway.tables.conditions import Item
from llm_gateway.tables.memory import MemoryTable
from llm_gateway.tenants.budgets import BudgetExhausted, Budgets
from llm_gateway.tenants.ledger import COMMITTED, Ledger, nano
from tests.support.tenants import BACKENDS, ManualClock, backend_table


@pytest.fixture(params=BACKENDS)
def table(request: pytest.FixtureRequest) -> Table:
    return backend_table(request, "LLM_GATEWAY_USAGE_TABLE")


class Counting(MemoryTable):
    """A memory table that counts its calls and can fail the next ones."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[int] = []
        self.updates = 0
        self.failing = 0

    async def batch_put(self, items: Sequence[Item]) -> None:
        if self.failing:
            self.failing -= 1
            raise TableUnavailable("BatchWriteItem failed: ThrottlingException")
        self.batches.append(len(items))
        await super().batch_put(items)

    async def update(self, pk: str, sk: str, **kwargs: Any) -> Item:
        if self.failing:
            self.failing -= 1
            raise TableUnavailable("UpdateItem failed: ThrottlingException")
        self.updates += 1
        return await super().update(pk, sk, **kwargs)


async def test_sums_are_added_up_and_records_go_25_to_a_call() -> None:
    table = Counting()
    ledger = Ledger(interval=3600)
    for i in range(60):
        ledger.record(table, {"pk": "usage#k", "sk": f"{i:03d}"})
        ledger.add(table, "spend#k", "period#total#total", {"cost_usd": 0.25, "requests": 1})
    assert ledger.pending_sum(table, "spend#k", "period#total#total") == {"cost_usd": 15.0, "requests": 60}
    assert await ledger.flush()
    assert sorted(table.batches) == [10, 25, 25] and table.updates == 1
    assert await table.get("spend#k", "period#total#total") == {
        "pk": "spend#k",
        "sk": "period#total#total",
        "cost_usd": 15.0,
        "requests": 60,
    }
    assert len(await table.query("usage#k")) == 60 and not ledger.pending


async def test_a_failed_write_is_kept_and_written_by_the_next_flush() -> None:
    table = Counting()
    ledger = Ledger(interval=3600)
    ledger.record(table, {"pk": "usage#k", "sk": "1"})
    ledger.add(table, "spend#k", "day#1", {"requests": 1})
    table.failing = 2
    assert not await ledger.flush()  # both writes failed: nothing lost, still pending
    assert ledger.pending_records == 1 and ledger.pending_sum(table, "spend#k", "day#1") == {"requests": 1}
    ledger.add(table, "spend#k", "day#1", {"requests": 1})  # merged with what failed
    assert await ledger.flush()
    assert (await table.get("spend#k", "day#1") or {})["requests"] == 2
    assert len(await table.query("usage#k")) == 1 and ledger.stats.failures == 2


async def test_the_window_flushes_by_itself() -> None:
    table = Counting()
    ledger = Ledger(interval=0.01)
    ledger.add(table, "spend#k", "day#1", {"requests": 1})
    for _ in range(500):
        if not ledger.pending and table.updates:
            break
        await asyncio.sleep(0.01)
    assert table.updates == 1 and not ledger.pending


async def test_in_per_request_mode_the_request_writes_its_own_entries() -> None:
    table = Counting()
    ledger = Ledger(per_request=True)
    ledger.add(table, "spend#k", "day#1", {"requests": 1})
    await asyncio.sleep(0.02)
    assert table.updates == 0  # no timer
    await ledger.end_of_request()
    assert table.updates == 1 and not ledger.pending


def _budgets(table: Table, clock: ManualClock) -> Budgets:
    return Budgets(table, Ledger(interval=3600), hold_seconds=900)


async def test_reservations_never_pass_the_budget_and_settle_to_the_cost(table: Table) -> None:
    clock = ManualClock()
    budgets = _budgets(table, clock)
    holds = await asyncio.gather(
        *(budgets.reserve("k", 5.0, "monthly", 2.0, clock()) for _ in range(10)), return_exceptions=True
    )
    admitted = [h for h in holds if not isinstance(h, BaseException)]
    assert len(admitted) == 2 and all(isinstance(h, BudgetExhausted) for h in holds if h not in admitted)
    for hold in admitted:
        budgets.settle(hold, 1.5)  # cheaper than its worst case
    # this process's pending settlements count at once: 3.0 committed, room for one more $2 request
    third = await budgets.reserve("k", 5.0, "monthly", 2.0, clock())
    with pytest.raises(BudgetExhausted):
        await budgets.reserve("k", 5.0, "monthly", 0.5, clock())
    budgets.settle(third, 0.0)  # failed before any token: released
    assert await budgets.ledger.flush()
    item = await table.get("spend#k", "period#monthly#2025-11") or {}
    assert item[COMMITTED] == nano(3.0) and item[admitted[0].attribute] == 0


async def test_a_hold_never_settled_expires_after_one_to_two_epochs(table: Table) -> None:
    clock = ManualClock()
    budgets = _budgets(table, clock)
    await budgets.reserve("k", 5.0, "total", 4.0, clock())  # its process dies: never settled
    with pytest.raises(BudgetExhausted):
        await budgets.reserve("k", 5.0, "total", 2.0, clock())
    clock.advance(900)  # the next epoch: the hold may belong to a request still running
    with pytest.raises(BudgetExhausted):
        await budgets.reserve("k", 5.0, "total", 2.0, clock())
    clock.advance(900)  # two epochs on: released
    late = await budgets.reserve("k", 5.0, "total", 2.0, clock())
    assert late.committed == pytest.approx(2.0) and budgets.rolls == 1
    item = await table.get("spend#k", "period#total#total") or {}
    assert [name for name in item if name.startswith("hold_")] == [late.attribute]


async def test_a_settlement_after_its_hold_expired_adds_only_the_cost(table: Table) -> None:
    clock = ManualClock()
    budgets = _budgets(table, clock)
    slow = await budgets.reserve("k", 5.0, "total", 3.0, clock())
    clock.advance(1800)
    await budgets.reserve("k", 5.0, "total", 1.0, clock())  # drops the slow request's epoch
    budgets.settle(slow, 2.5)  # the slow request ends at last
    assert await budgets.ledger.flush()
    item = await table.get("spend#k", "period#total#total") or {}
    assert item[COMMITTED] == nano(1.0 + 2.5) and slow.attribute not in item
