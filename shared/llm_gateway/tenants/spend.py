"""Usage records and running spend in the UsageTable.

Layout (``pk`` starts with the record kind; the table is shared):

- ``usage#<key id>`` / ``<ISO time>#<request id>``: one usage record per request (key id, model,
  deployment, tokens, cost, latency, cache hit, user, metadata); expires after ``record_ttl_days``.
- ``spend#<key id>`` / ``period#<daily|weekly|monthly|total>#<period>``: the running spend of the key's
  budget period (``ADD``, so concurrent instances never lose an update), and ``committed_nusd``: that
  spend plus the budget holds not yet settled, in nano-dollars, which budget reservations are checked against
  (:mod:`.budgets`).
- ``spend#<key id>`` / ``day#<YYYY-MM-DD>#<model>``: per day and model sums for spend reports.

Writes go through the ledger (:mod:`.ledger`): records in ``BatchWriteItem`` calls, the sums added up
per item and written once per flush. Readers add what this process has not flushed yet.

Periods are UTC calendar periods: ``2026-11-25`` (daily), ``2026-W48`` (ISO week, from Monday),
``2026-11`` (monthly), ``total``.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from llm_gateway.scopes import SPEND_PREFIX, key_id_of_spend_pk, part, spend_pk, unescape, usage_pk
from llm_gateway.tables.base import Table
from llm_gateway.tenants.ledger import COMMITTED, Ledger, nano

PeriodSums = Callable[[dict[str, float]], None]

DAY = 86_400


def period_label(period: str, now: float) -> str:
    return _period_label(period, int(now // DAY))


@functools.lru_cache(maxsize=64)
def _period_label(period: str, day_number: int) -> str:
    """The label of ``period`` on the UTC day ``day_number`` (days since the epoch): every request of a
    day shares it, so it is worked out once."""
    day = dt.date(1970, 1, 1) + dt.timedelta(days=day_number)
    if period == "daily":
        return day.isoformat()
    if period == "weekly":
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    if period == "monthly":
        return f"{day.year}-{day.month:02d}"
    if period == "total":
        return "total"
    raise ValueError(f"unknown budget period {period!r} (daily, weekly, monthly, total)")


def period_key(key_id: str, period: str, now: float) -> tuple[str, str]:
    """``(pk, sk)`` of the key's running spend for the budget ``period`` around ``now``."""
    return spend_pk(key_id), f"period#{period}#{period_label(period, now)}"


def day_key(key_id: str, now: float, model: str | None) -> tuple[str, str]:
    """``(pk, sk)`` of the key's sums for the UTC day of ``now`` and ``model``."""
    return spend_pk(key_id), f"day#{period_label('daily', now)}#{part(model) if model else '-'}"


def period_days(period: str, now: float) -> tuple[str, str]:
    """First and last day (ISO dates, inclusive) of the period around ``now``."""
    day = dt.datetime.fromtimestamp(now, tz=dt.UTC).date()
    if period == "daily":
        first = last = day
    elif period == "weekly":
        first = day - dt.timedelta(days=day.weekday())
        last = first + dt.timedelta(days=6)
    elif period == "monthly":
        first = day.replace(day=1)
        last = (first + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
    elif period == "total":
        first, last = dt.date(1970, 1, 1), dt.date(9999, 12, 31)
    else:
        raise ValueError(f"unknown period {period!r} (daily, weekly, monthly, total)")
    return first.isoformat(), last.isoformat()


@dataclass
class UsageRecord:
    request_id: str
    key_id: str
    model: str | None
    deployment: str | None
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    cost_usd: float
    latency_ms: float
    timestamp: float
    status: str = "ok"
    """ok | error | aborted (the client left: a stream's usage so far, or a request cancelled before its answer)."""
    stream: bool = False
    cache_hit: bool = False
    replayed: bool = False
    """An idempotent replay of an earlier answer (no upstream call, no cost)."""
    usage_estimated: bool = False
    priced: bool = True
    ttft_ms: float | None = None
    owner: str | None = None
    user: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    """The request's own ``metadata``."""
    key_metadata: Mapping[str, str] = field(default_factory=dict)
    """The key's metadata (team, cost centre...), copied so reports need no join."""

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


_MAPPING_FIELDS = ("metadata", "key_metadata")
"""The record's mapping fields: stored as copies, left out when empty."""


def _item_fields(usage: UsageRecord) -> dict[str, Any]:
    """The record's fields as item attributes (mappings copied), without the empty ones."""
    item = {name: value for name, value in vars(usage).items() if value is not None}
    for name in _MAPPING_FIELDS:
        value = item.get(name)
        if value is not None:
            if value:
                item[name] = dict(value)
            else:
                del item[name]
    return item


class SpendStore:
    def __init__(self, table: Table, *, record_ttl_days: int = 400, ledger: Ledger | None = None) -> None:
        self.table = table
        self.record_ttl = record_ttl_days * DAY
        self.ledger = ledger if ledger is not None else Ledger(per_request=True)

    async def current_spend(self, key_id: str, period: str, now: float) -> float:
        """The period's spend: as the table has it, plus what this process has not flushed yet."""
        pk, sk = period_key(key_id, period, now)
        item = await self.table.get(pk, sk)
        stored = float(item.get("cost_usd", 0)) if item else 0.0
        return round(stored + self.ledger.pending_sum(self.table, pk, sk).get("cost_usd", 0.0), 10)

    def note(self, usage: UsageRecord, *, budget_period: str, settle: PeriodSums | None = None) -> None:
        """Queue the request's writes in the ledger: the usage record, the budget period's running spend
        and the day/model sums. ``settle``, for a request that holds a budget reservation, takes the
        period's sums instead, to write them with the hold's settlement (:meth:`.Budgets.settle`)."""
        when = dt.datetime.fromtimestamp(usage.timestamp, tz=dt.UTC)
        item = _item_fields(usage)
        item.update(
            pk=usage_pk(usage.key_id),
            sk=f"{when.isoformat(timespec='milliseconds')}#{usage.request_id}",
            total_tokens=usage.total_tokens,
            expires_at=int(usage.timestamp + self.record_ttl),
        )
        sums = {
            "cost_usd": usage.cost_usd,
            "requests": 1,
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "cached_tokens": usage.cached_tokens,
            "cache_hits": 1 if usage.cache_hit else 0,
        }
        nonzero = {k: v for k, v in sums.items() if v}
        ledger = self.ledger
        ledger.record(self.table, item)
        if settle is not None:
            settle(nonzero)
        else:
            pk, sk = period_key(usage.key_id, budget_period, usage.timestamp)
            committed = nano(usage.cost_usd)
            ledger.add(self.table, pk, sk, {**nonzero, COMMITTED: committed} if committed else nonzero)
        ledger.add(self.table, *day_key(usage.key_id, usage.timestamp, usage.model), nonzero)

    async def record(self, usage: UsageRecord, *, budget_period: str) -> None:
        """:meth:`note`, then flush: the writes are in the table when it returns (tools and tests)."""
        self.note(usage, budget_period=budget_period)
        await self.ledger.flush()

    async def report(self, key_ids: list[str] | None, first_day: str, last_day: str) -> list[dict[str, Any]]:
        """Per key and model sums over the days ``first_day..last_day``: one Query per key; ``None`` scans the
        table for every key's sums (only when no key list is at hand: it reads every usage record too)."""
        if key_ids is None:
            items = [i for i in await self.table.scan(SPEND_PREFIX) if str(i["sk"]).startswith("day#")]
        else:
            items = []
            for key_id in key_ids:
                pk = spend_pk(key_id)
                items += await self.table.query(pk, f"day#{first_day}", f"day#{last_day}#~")
        items += self._pending_days(key_ids)
        items = [i for i in items if first_day <= str(i["sk"])[4:14] <= last_day]
        rows: dict[tuple[str, str], dict[str, Any]] = {}
        for item in items:
            key_id = key_id_of_spend_pk(str(item["pk"]))
            model = unescape(str(item["sk"]).split("#", 2)[2])
            row = rows.setdefault(
                (key_id, model),
                {
                    "key_id": key_id,
                    "model": model,
                    "requests": 0,
                    "prompt_tokens": 0,
                    "completion_tokens": 0,
                    "cached_tokens": 0,
                    "cache_hits": 0,
                    "cost_usd": 0.0,
                },
            )
            for name in ("requests", "prompt_tokens", "completion_tokens", "cached_tokens", "cache_hits"):
                row[name] += int(item.get(name, 0))
            row["cost_usd"] = round(row["cost_usd"] + float(item.get("cost_usd", 0)), 10)
        return sorted(rows.values(), key=lambda r: (r["key_id"], r["model"]))

    def _pending_days(self, key_ids: list[str] | None) -> list[dict[str, Any]]:
        """The day/model sums this process has not flushed yet, as items (read-your-writes)."""
        wanted = None if key_ids is None else {spend_pk(key_id) for key_id in key_ids}
        found = []
        for pk, sk, amounts in self.ledger.pending_sums(self.table, SPEND_PREFIX):
            if sk.startswith("day#") and (wanted is None or pk in wanted):
                found.append({"pk": pk, "sk": sk, **amounts})
        return found

    def pending_totals(self, key_ids: list[str] | None = None) -> dict[str, Any]:
        """Requests and cost of ``key_ids`` (``None``: every key) this process has answered but not
        flushed yet: what a report adds to the table's sums."""
        requests = cost = 0.0
        for item in self._pending_days(key_ids):
            requests += item.get("requests", 0)
            cost += item.get("cost_usd", 0)
        return {"requests": int(requests), "cost_usd": round(cost, 10)}
