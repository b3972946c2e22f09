"""Budget reservations: a key with a budget holds a request's worst-case cost before the call, with one
conditional write, and settles it to the real cost after.

The budget period's item (``spend#<key id>`` / ``period#<period>#<label>``, the same item the running
spend is added to) carries:

- ``committed_nusd``: the period's settled cost plus every hold not yet settled;
- ``hold_<epoch>``: the holds taken in one epoch of ``hold_seconds`` (time since 1970 divided into
  epochs), not yet settled.

Both in whole nano-dollars (1e-9 USD), so they add up exactly (a float sum drifts, and a decimal one
that cancels out leaves forms such as ``0E-7`` behind).

**Reserve**: ``ADD committed_nusd :worst, hold_<E> :worst`` on condition
``committed_nusd <= budget - worst`` (or none yet). Two instances can never both take the last of a
budget: DynamoDB applies conditional updates of one item one at a time. What this process has settled
but not yet flushed (see :mod:`.ledger`) is counted in the bound, so a process never refuses for want of
its own flush.

**Settle** (after the answer, or on failure, abort or a cancelled stream: the real cost, 0 when nothing
was produced): ``ADD committed_nusd :(cost - worst), hold_<E> :-worst``, while ``hold_<E>`` exists; queued in
the ledger and written with the running spend, one update per key per flush.

**Expiry**: a hold is never settled if its process died. Its epoch's attribute is dropped once two epochs
have begun since (``hold_<e>`` with ``e <= E - 2``): one conditional update takes its remaining amount
out of ``committed_nusd`` and removes it (the first reservation that sees it does it). A hold therefore
lives between one and two epochs; ``hold_seconds`` is kept above the longest request
(``server.request_timeout``), so no live request loses its hold. A settlement that arrives after its
hold was dropped adds its cost alone.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from llm_gateway.tables.base import ConditionFailed, Table
from llm_gateway.tables.conditions import Condition, absent, all_of, at_most, equals
from llm_gateway.tenants.aio import call_store
from llm_gateway.tenants.config import Price
from llm_gateway.tenants.ledger import COMMITTED, NANO, Ledger, nano
from llm_gateway.tenants.pricing import PER
from llm_gateway.tenants.spend import period_key

log = logging.getLogger("llm_gateway.tenants")

HOLD_PREFIX = "hold_"
PRECISION = 10


@dataclass
class Hold:
    """One request's reservation on its key's budget."""

    key_id: str
    pk: str
    sk: str
    attribute: str
    """``hold_<epoch>``"""
    amount: int
    """Nano-dollars."""
    committed: float = 0.0
    """The period's committed USD right after this reservation (this hold included)."""
    settled: bool = False


class BudgetExhausted(Exception):
    """The reservation would pass the budget; ``committed`` is what the period holds already."""

    def __init__(self, committed: float) -> None:
        """``committed``: USD."""
        super().__init__("budget exhausted")
        self.committed = committed


def hold_epoch(attribute: str) -> int | None:
    if not attribute.startswith(HOLD_PREFIX):
        return None
    digits = attribute[len(HOLD_PREFIX) :]
    return int(digits) if digits.isdigit() else None


def _expired(item: dict[str, Any], epoch: int) -> dict[str, int]:
    """The hold attributes of ``item`` two epochs old or more (``epoch`` is the current one)."""
    found = {}
    for name, value in item.items():
        held = hold_epoch(name)
        if held is not None and held <= epoch - 2 and isinstance(value, int):
            found[name] = value
    return found


def _usd(nanos: float) -> float:
    return round(nanos / NANO, PRECISION)


class Budgets:
    def __init__(self, table: Table, ledger: Ledger, *, hold_seconds: float, timeout: float = 1.0) -> None:
        self.table = table
        self.ledger = ledger
        self.hold_seconds = hold_seconds
        self.timeout = timeout
        self.reservations = 0
        self.rolls = 0

    async def reserve(self, key_id: str, budget: float, period: str, amount: float, now: float) -> Hold:
        """Hold ``amount`` (USD) of the key's budget for its current ``period``; :class:`BudgetExhausted`
        when it would pass ``budget``. A failing table raises ``ServiceUnavailableError`` (503)."""
        held = max(0, nano(amount))
        pk, sk = period_key(key_id, period, now)
        epoch = int(now // self.hold_seconds)
        hold = f"{HOLD_PREFIX}{epoch}"
        for attempt in range(2):
            own = int(self.ledger.pending_sum(self.table, pk, sk).get(COMMITTED, 0))
            limit = nano(budget) - held - own
            if limit < 0:  # this process's own pending spend, or the request alone, passes the budget
                raise BudgetExhausted(_usd(max(0, own)))
            condition: Condition = absent(COMMITTED) | at_most(COMMITTED, limit)
            try:
                self.reservations += 1
                item = await self._call(
                    self.table.update(pk, sk, add={COMMITTED: held, hold: held}, condition=condition)
                )
            except ConditionFailed as refused:
                old = refused.item or {}
                if attempt == 0 and _expired(old, epoch) and await self._roll(pk, sk, old, epoch):
                    continue  # expired holds freed some of the budget: try once more
                raise BudgetExhausted(_usd(int(old.get(COMMITTED, 0) or 0) + own)) from None
            if _expired(item, epoch):
                await self._roll(pk, sk, item, epoch)
            return Hold(key_id, pk, sk, hold, held, committed=_usd(int(item.get(COMMITTED, held)) + own))
        raise AssertionError("unreachable")

    def settle(self, hold: Hold, cost: float, sums: dict[str, float] | None = None) -> None:
        """Replace the hold by the real ``cost`` (USD; 0: release it); ``sums`` (the running spend's) are
        written in the same update. Queued in the ledger; a hold is settled once."""
        if hold.settled:
            return
        hold.settled = True
        amounts = dict(sums or {})
        amounts[COMMITTED] = amounts.get(COMMITTED, 0) + nano(cost) - hold.amount
        amounts[hold.attribute] = -hold.amount
        self.ledger.add(self.table, hold.pk, hold.sk, amounts, hold=hold.attribute)

    async def _roll(self, pk: str, sk: str, item: dict[str, Any], epoch: int) -> bool:
        """Drop the expired holds seen in ``item``: ``True`` if this call dropped them."""
        expired = _expired(item, epoch)
        unchanged = all_of([equals(name, value) for name, value in expired.items()])
        try:
            await self._call(
                self.table.update(
                    pk,
                    sk,
                    add={COMMITTED: -sum(expired.values())},
                    remove=list(expired),
                    condition=unchanged,
                )
            )
        except ConditionFailed:
            return False  # another instance dropped them, or a late settlement changed one: seen next time
        self.rolls += 1
        log.info("budget holds expired: %d released", len(expired))
        return True

    async def _call(self, call: Any) -> Any:
        return await call_store("budget store", call, timeout=self.timeout, blocking=self.table.blocking)


def worst_case_cost(prices: Iterable[Price], prompt_tokens: int, completion_tokens: int) -> float:
    """The most a request can cost at any of ``prices``: every prompt token at the highest input rate,
    every completion token at the highest output rate."""
    rates = list(prices)
    if not rates:
        return 0.0
    highest_input = max(price.input for price in rates)
    highest_output = max(price.output for price in rates)
    return round((prompt_tokens * highest_input + completion_tokens * highest_output) / PER, PRECISION)
