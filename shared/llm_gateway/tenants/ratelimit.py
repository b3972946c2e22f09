"""Requests and tokens per minute, shared by every Lambda instance through DynamoDB atomic counters.

Each scope (a key, a model group) has one counter item per 60-second window: ``pk = rl#<scope>``,
``sk = <window start, epoch s>``, attributes ``r`` (requests) and ``t`` (tokens), and ``expires_at`` so
the table's TTL removes it a few minutes later.

Admission is one conditional ``UpdateItem ADD``: it counts the request only while the window is under
its limits, so refused requests are not counted and two instances can never both take the last slot.

Window (``tenants.limits_window``):

- ``sliding`` (default): the usual two-window approximation. The count is
  ``previous window * (fraction of it still inside the last 60 s) + current window``. No burst of twice
  the limit across a window boundary. The previous window is read once per instance per window.
- ``fixed``: calendar minutes (``hh:mm:00`` to ``hh:mm:59``); simplest, allows boundary bursts.

The token count uses the request's estimate at admission (prompt plus ``max_tokens``); once the answer
is known the difference to the real usage is added to the same window, through the ledger
(:mod:`.ledger`): one ``UpdateItem ADD`` per window per flush, however many requests it settles.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from dataclasses import dataclass

from llm_gateway.scopes import counter_pk
from llm_gateway.tables.base import ConditionFailed, Table
from llm_gateway.tables.conditions import Condition, absent, all_of, below
from llm_gateway.tenants.aio import call_store
from llm_gateway.tenants.ledger import Ledger

WINDOW_SECONDS = 60


@dataclass(frozen=True)
class Quota:
    rpm: int | None = None
    tpm: int | None = None

    def __bool__(self) -> bool:
        return self.rpm is not None or self.tpm is not None


@dataclass
class Decision:
    """The outcome for one scope: admitted or not, and the figures for the ``x-ratelimit-*`` headers."""

    scope: str
    quota: Quota
    admitted: bool
    window_start: int
    requests_used: float
    tokens_used: float
    reset_seconds: float
    retry_after: float = 0.0
    exceeded: str | None = None
    """``requests`` or ``tokens`` when refused."""
    tokens_counted: int = 0

    def remaining_requests(self) -> int | None:
        return None if self.quota.rpm is None else max(0, math.floor(self.quota.rpm - self.requests_used))

    def remaining_tokens(self) -> int | None:
        return None if self.quota.tpm is None else max(0, math.floor(self.quota.tpm - self.tokens_used))


def _wait_until_below(limit: float, previous: float, current: float, elapsed: float, sliding: bool) -> float:
    """Seconds from now until ``previous * weight + current`` drops below ``limit`` (``elapsed`` into the window)."""
    to_end = WINDOW_SECONDS - elapsed
    if not sliding:
        return to_end
    if current < limit and previous > 0:
        at = WINDOW_SECONDS * (1 - (limit - current) / previous)
        if at < WINDOW_SECONDS:
            return max(0.0, at - elapsed)
    if current <= 0:
        return to_end
    return to_end + max(0.0, WINDOW_SECONDS * (1 - limit / current))


def counter_key(scope: str, window_start: int) -> tuple[str, str]:
    """``(pk, sk)`` of a scope's counter for one window (one function, so the scope is built in one place)."""
    return counter_pk(scope), str(window_start)


class RateLimiter:
    def __init__(
        self,
        table: Table,
        clock: Callable[[], float],
        *,
        sliding: bool = True,
        timeout: float = 1.0,
        ledger: Ledger | None = None,
    ) -> None:
        self.table = table
        self.ledger = ledger if ledger is not None else Ledger(per_request=True)
        self.clock = clock
        self.sliding = sliding
        self.timeout = timeout
        self._previous: dict[tuple[str, int], tuple[float, float]] = {}
        self.reads = 0
        self.writes = 0

    async def _previous_counts(self, scope: str, window_start: int) -> tuple[float, float]:
        if not self.sliding:
            return 0.0, 0.0
        key = (scope, window_start - WINDOW_SECONDS)
        cached = self._previous.get(key)
        if cached is None:
            self.reads += 1
            item = await call_store(
                "rate-limit store",
                self.table.get(*counter_key(scope, key[1])),
                timeout=self.timeout,
                blocking=self.table.blocking,
            )
            cached = (float(item.get("r", 0)), float(item.get("t", 0))) if item else (0.0, 0.0)
            if len(self._previous) > 10_000:
                self._previous.clear()
            self._previous[key] = cached
        return cached

    async def admit(self, scope: str, quota: Quota, tokens: int) -> Decision:
        now = self.clock()
        window_start = int(now // WINDOW_SECONDS) * WINDOW_SECONDS
        elapsed = now - window_start
        weight = max(0.0, 1 - elapsed / WINDOW_SECONDS) if self.sliding else 0.0
        prev_r, prev_t = await self._previous_counts(scope, window_start)
        carried_r, carried_t = prev_r * weight, prev_t * weight
        below: dict[str, float] = {}
        if quota.rpm is not None:
            below["r"] = quota.rpm - carried_r
        if quota.tpm is not None:
            below["t"] = quota.tpm - carried_t
        decision = Decision(scope, quota, True, window_start, 0, 0, WINDOW_SECONDS - elapsed)
        try:
            if any(bound <= 0 for bound in below.values()):
                raise ConditionFailed(None)  # the previous window alone uses the whole quota
            self.writes += 1
            item = await call_store(
                "rate-limit store",
                self.table.update(
                    *counter_key(scope, window_start),
                    add={"r": 1, "t": tokens},
                    set_values={"expires_at": window_start + 3 * WINDOW_SECONDS},
                    condition=_under(below),
                ),
                timeout=self.timeout,
                blocking=self.table.blocking,
            )
            decision.tokens_counted = tokens
        except ConditionFailed as refused:
            item = refused.item or {}
            decision.admitted = False
        cur_r, cur_t = float(item.get("r", 0)), float(item.get("t", 0))
        decision.requests_used = carried_r + cur_r
        decision.tokens_used = carried_t + cur_t
        if not decision.admitted:
            waits = []
            if quota.rpm is not None and cur_r >= below["r"]:
                decision.exceeded = "requests"
                waits.append(_wait_until_below(quota.rpm, prev_r, cur_r, elapsed, self.sliding))
            if quota.tpm is not None and cur_t >= below["t"]:
                decision.exceeded = decision.exceeded or "tokens"
                waits.append(_wait_until_below(quota.tpm, prev_t, cur_t, elapsed, self.sliding))
            # whole seconds, as Retry-After says them (the epsilon absorbs float noise: 15.0000001 is 15)
            decision.retry_after = float(max(1, math.ceil(max(waits, default=0.0) - 1e-6)))
        return decision

    async def admit_all(self, scopes: list[tuple[str, Quota]], tokens: int) -> list[Decision]:
        """Admit against every scope at once; if one refuses, the others give their slot back."""
        decisions = list(await asyncio.gather(*(self.admit(scope, quota, tokens) for scope, quota in scopes)))
        if not all(d.admitted for d in decisions):
            await asyncio.gather(*(self.refund(d) for d in decisions if d.admitted))
        return decisions

    async def refund(self, decision: Decision) -> None:
        await self.adjust(decision, requests=-1, tokens=-decision.tokens_counted)

    def settle_tokens(self, decision: Decision, actual_tokens: int) -> None:
        """Replace the admission estimate with the real token count (queued in the ledger)."""
        delta = actual_tokens - decision.tokens_counted
        if delta and decision.quota.tpm is not None:
            pk, sk = counter_key(decision.scope, decision.window_start)
            expiry = {"expires_at": decision.window_start + 3 * WINDOW_SECONDS}
            self.ledger.add(self.table, pk, sk, {"t": delta}, set_values=expiry)

    async def adjust(self, decision: Decision, *, requests: int = 0, tokens: int = 0) -> None:
        increments = {name: value for name, value in (("r", requests), ("t", tokens)) if value}
        if increments:
            self.writes += 1
            await call_store(
                "rate-limit store",
                self.table.update(*counter_key(decision.scope, decision.window_start), add=increments),
                timeout=self.timeout,
                blocking=self.table.blocking,
            )


def _under(bounds: dict[str, float]) -> Condition | None:
    """Every counter named in ``bounds`` is absent or lower than its bound."""
    return all_of([absent(name) | below(name, bound) for name, bound in bounds.items()])


def format_reset(seconds: float) -> str:
    """OpenAI's duration format for ``x-ratelimit-reset-*``: ``250ms``, ``17s``, ``1m30s``."""
    if seconds < 1:
        return f"{max(0, round(seconds * 1000))}ms"
    whole = math.ceil(seconds)
    minutes, secs = divmod(whole, 60)
    return f"{minutes}m{secs}s" if minutes else f"{secs}s"


def rate_limit_message(decision: Decision, owner: str) -> str:
    """OpenAI's wording for a refusal; ``owner`` says whose limit it is (``key k``, ``model m``)."""
    what = "requests" if decision.exceeded == "requests" else "tokens"
    limit = decision.quota.rpm if what == "requests" else decision.quota.tpm
    used = decision.requests_used if what == "requests" else decision.tokens_used
    unit = "RPM" if what == "requests" else "TPM"
    return (
        f"Rate limit reached for {what} per min ({unit}) on {owner}: Limit {limit}, Used {int(used)}. "
        f"Please try again in {format_reset(decision.retry_after)}."
    )


def ratelimit_headers(decision: Decision) -> dict[str, str]:
    headers: dict[str, str] = {}
    remaining = decision.remaining_requests()
    if decision.quota.rpm is not None and remaining is not None:
        headers["x-ratelimit-limit-requests"] = str(decision.quota.rpm)
        headers["x-ratelimit-remaining-requests"] = str(remaining)
        headers["x-ratelimit-reset-requests"] = format_reset(decision.reset_seconds)
    remaining = decision.remaining_tokens()
    if decision.quota.tpm is not None and remaining is not None:
        headers["x-ratelimit-limit-tokens"] = str(decision.quota.tpm)
        headers["x-ratelimit-remaining-tokens"] = str(remaining)
        headers["x-ratelimit-reset-tokens"] = format_reset(decision.reset_seconds)
    return headers
