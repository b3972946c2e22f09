"""Spend reports (shared by the ``GET /v1/spend`` endpoint and the CLI)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from llm_gateway.tenants.keystore import KeyStore
from llm_gateway.tenants.spend import SpendStore, period_days

PERIODS = ("daily", "weekly", "monthly", "total")


def resolve_days(period: str | None, start: str | None, end: str | None, now: float) -> tuple[str, str, str]:
    """``(label, first day, last day)`` from a period name or explicit ISO dates (``ValueError`` if bad)."""
    if start or end:
        first = dt.date.fromisoformat(start) if start else dt.date(1970, 1, 1)
        last = dt.date.fromisoformat(end) if end else dt.datetime.fromtimestamp(now, tz=dt.UTC).date()
        if last < first:
            raise ValueError("'end' is before 'start'")
        return "custom", first.isoformat(), last.isoformat()
    chosen = period or "monthly"
    if chosen not in PERIODS:
        raise ValueError(f"'period' must be one of {', '.join(PERIODS)}")
    first_day, last_day = period_days(chosen, now)
    return chosen, first_day, last_day


async def every_key_id(keys: KeyStore | None) -> list[str] | None:
    """The ids to report on for "every key": the master key and every virtual key (one Query of the keys
    directory), so the report queries each key's sums instead of scanning usage. ``None`` when there is
    no keys table (local runs: the report then scans the in-memory usage table)."""
    if keys is None:
        return None
    return ["master", *await keys.key_ids()]


async def spend_report(
    store: SpendStore,
    key_ids: list[str] | None,
    *,
    period: str | None,
    start: str | None,
    end: str | None,
    now: float,
    keys: KeyStore | None = None,
) -> dict[str, Any]:
    """Spend per key and model; ``key_ids=None`` means every key."""
    label, first, last = resolve_days(period, start, end, now)
    rows = await store.report(key_ids if key_ids is not None else await every_key_id(keys), first, last)
    return {
        "object": "spend_report",
        "period": label,
        "start": first,
        "end": last,
        "total_cost_usd": round(sum(r["cost_usd"] for r in rows), 10),
        "total_requests": sum(r["requests"] for r in rows),
        "data": rows,
    }
