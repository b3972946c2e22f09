"""Deployment health shared by every instance: recent failures and cooldowns.

A deployment is *cooled down* (skipped by every instance until ``cooldown_until``) after
``allowed_fails`` failures within ``failure_window`` seconds, or at once when the upstream answered 429
with a ``Retry-After`` (for that long, capped by ``max_cooldown``). A success clears its record. After a
cooldown the failure count starts afresh.

The policy lives in :class:`CooldownStore`, over any table (:mod:`llm_gateway.tables`): in memory for
this instance's own view, DynamoDB's StateTable for the view every instance shares. One item per
deployment, ``pk = cooldown#<group>``, ``sk = <deployment id>``, so a single Query reads a whole model
group. Writes are conditional ``UpdateItem``s with ``ADD``; items carry ``expires_at`` for TTL, and reads
ignore anything expired (TTL deletion is lazy).

DynamoDB calls: a healthy request makes none (see :mod:`.health` for the read cache); a failed attempt
makes one write (``ADD``), two when it trips a cooldown, plus one when its window had to be restarted
by a racing instance.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from llm_gateway.tables.base import ConditionFailed, Table
from llm_gateway.tables.conditions import above, absent, at_most, below

KEY_PREFIX = "cooldown#"
_RETENTION = 300.0  # seconds an item outlives its window or cooldown before TTL may delete it


@dataclass(frozen=True)
class DeploymentHealth:
    deployment_id: str
    fails: int = 0
    window_start: float = 0.0
    cooldown_until: float = 0.0
    reason: str | None = None

    def cooling(self, now: float) -> bool:
        return self.cooldown_until > now

    def troubled(self, now: float) -> bool:
        """Anything a success should clear."""
        return self.fails > 0 or self.cooling(now)


@dataclass(frozen=True)
class CooldownPolicy:
    allowed_fails: int
    failure_window: float
    cooldown_seconds: float
    max_cooldown: float

    def expiry(self, now: float) -> float:
        return now + self.failure_window + self.max_cooldown + _RETENTION


class CooldownStore:
    """Cooldown policy over one table."""

    def __init__(self, table: Table) -> None:
        self.table = table

    async def record_failure(
        self,
        group: str,
        deployment_id: str,
        *,
        now: float,
        policy: CooldownPolicy,
        retry_after: float | None = None,
        reason: str = "failures",
        known: DeploymentHealth | None = None,
    ) -> DeploymentHealth:
        floor = now - policy.failure_window
        # Start where the last known state says we are; a racing instance makes us switch once or twice.
        live_window = known is not None and known.window_start > floor
        health: DeploymentHealth | None = None
        for _ in range(3):
            if live_window:
                health = await self._add_failure(group, deployment_id, now=now, floor=floor, policy=policy)
            else:
                health = await self._start_window(group, deployment_id, now=now, floor=floor, policy=policy)
            if health is not None:
                break
            live_window = not live_window
        if health is None:  # three lost races in a row: count it locally and move on
            health = DeploymentHealth(deployment_id, fails=1, window_start=now)
        until = 0.0
        if retry_after is not None:
            until, reason = now + min(retry_after, policy.max_cooldown), "retry_after"
        elif health.fails >= policy.allowed_fails:
            until = now + policy.cooldown_seconds
        if until > health.cooldown_until:
            await self._set_cooldown(group, deployment_id, until=until, reason=reason, policy=policy)
            health = replace(health, cooldown_until=until, reason=reason, fails=0, window_start=until)
        return health

    async def clear(self, group: str, deployment_id: str) -> None:
        await self.table.delete(KEY_PREFIX + group, deployment_id)

    async def get(self, group: str, deployment_id: str) -> DeploymentHealth | None:
        item = await self.table.get(KEY_PREFIX + group, deployment_id)
        return _health(deployment_id, item) if item is not None else None

    async def read_group(self, group: str, *, now: float) -> dict[str, DeploymentHealth]:
        healths: dict[str, DeploymentHealth] = {}
        for item in await self.table.query(KEY_PREFIX + group):
            if float(item.get("expires_at", now + 1)) <= now:
                continue  # expired but not yet deleted by TTL
            deployment_id = str(item["sk"])
            healths[deployment_id] = _health(deployment_id, item)
        return healths

    # -- the writes -----------------------------------------------------------------------------------

    async def _update(self, group: str, deployment_id: str, **update: Any) -> DeploymentHealth | None:
        try:
            item = await self.table.update(KEY_PREFIX + group, deployment_id, **update)
        except ConditionFailed:
            return None
        return _health(deployment_id, item)

    async def _add_failure(
        self, group: str, deployment_id: str, *, now: float, floor: float, policy: CooldownPolicy
    ) -> DeploymentHealth | None:
        """Add one failure to a window that started after ``floor``; ``None`` if there is no such window."""
        return await self._update(
            group,
            deployment_id,
            add={"fails": 1},
            set_values={"expires_at": int(policy.expiry(now))},
            condition=above("window_start", floor),
        )

    async def _start_window(
        self, group: str, deployment_id: str, *, now: float, floor: float, policy: CooldownPolicy
    ) -> DeploymentHealth | None:
        """Start a new window with one failure, unless a live one exists (then ``None``)."""
        return await self._update(
            group,
            deployment_id,
            set_values={"fails": 1, "window_start": now, "expires_at": int(policy.expiry(now))},
            condition=absent("window_start") | at_most("window_start", floor),
        )

    async def _set_cooldown(
        self, group: str, deployment_id: str, *, until: float, reason: str, policy: CooldownPolicy
    ) -> None:
        """Cool the deployment down until ``until`` (never shortening a longer cooldown); reset its count."""
        await self._update(
            group,
            deployment_id,
            set_values={
                "cooldown_until": until,
                "cooldown_reason": reason,
                "fails": 0,
                "window_start": until,
                "expires_at": int(until + policy.failure_window + _RETENTION),
            },
            condition=absent("cooldown_until") | below("cooldown_until", until),
        )


def _health(deployment_id: str, item: dict[str, Any]) -> DeploymentHealth:
    reason = item.get("cooldown_reason")
    return DeploymentHealth(
        deployment_id=deployment_id,
        fails=int(item.get("fails", 0)),
        window_start=float(item.get("window_start", 0.0)),
        cooldown_until=float(item.get("cooldown_until", 0.0)),
        reason=reason if isinstance(reason, str) else None,
    )
