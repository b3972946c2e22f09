"""What this instance believes about each deployment's health, and how it keeps that cheap.

Every failure is recorded twice: in process memory (always) and in the shared store (when there is one
and it answers). Reads of the shared store are cached per model group for ``state_cache_ttl`` seconds,
and this instance's own writes update that copy, so the healthy path reads DynamoDB at most once per
group per TTL, and a success writes only when the deployment had something to clear.

When the shared store fails (unreachable, throttled, timed out), the instance stops using it for
``state_retry_after`` seconds and routes on its in-memory state alone: requests are still served.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from llm_gateway.errors import GatewayError, RateLimitError
from llm_gateway.providers.base import Deployment
from llm_gateway.routing.config import RouterConfig
from llm_gateway.routing.cooldowns import CooldownPolicy, CooldownStore, DeploymentHealth
from llm_gateway.tables.base import TableUnavailable
from llm_gateway.tables.memory import MemoryTable

log = logging.getLogger("llm_gateway.routing")

_LATENCY_WEIGHT = 0.3  # EWMA weight of the newest sample


@dataclass
class _Snapshot:
    fetched_at: float
    healths: dict[str, DeploymentHealth] = field(default_factory=dict)


class HealthTracker:
    def __init__(
        self,
        config: RouterConfig,
        shared: CooldownStore | None,
        *,
        clock: Callable[[], float],
        monotonic: Callable[[], float],
    ) -> None:
        self.config = config
        self.policy = CooldownPolicy(
            allowed_fails=config.allowed_fails,
            failure_window=config.failure_window,
            cooldown_seconds=config.cooldown_seconds,
            max_cooldown=config.max_cooldown,
        )
        self.local = CooldownStore(MemoryTable())
        """This instance's own view (always kept; all there is when the shared store is out of reach)."""
        self.shared = shared
        self.clock = clock
        self.monotonic = monotonic
        self._snapshots: dict[str, _Snapshot] = {}
        self._shared_down_until = 0.0
        self.latency: dict[str, float] = {}

    # -- the shared store, with its circuit breaker ------------------------------------------------

    def shared_usable(self) -> bool:
        return self.shared is not None and self.monotonic() >= self._shared_down_until

    def _shared_failed(self, exc: Exception) -> None:
        self._shared_down_until = self.monotonic() + self.config.state_retry_after
        self._snapshots.clear()
        log.warning(
            "routing state table unavailable, using in-memory state for %ss: %s", self.config.state_retry_after, exc
        )

    async def _shared_snapshot(self, group: str) -> dict[str, DeploymentHealth]:
        if self.shared is None or not self.shared_usable():
            return {}
        snapshot = self._snapshots.get(group)
        if snapshot is not None and self.monotonic() - snapshot.fetched_at < self.config.state_cache_ttl:
            return snapshot.healths
        try:
            healths = await self.shared.read_group(group, now=self.clock())
        except TableUnavailable as exc:
            self._shared_failed(exc)
            return {}
        self._snapshots[group] = _Snapshot(fetched_at=self.monotonic(), healths=healths)
        return healths

    # -- what the router asks ----------------------------------------------------------------------

    async def view(self, group: str) -> dict[str, DeploymentHealth]:
        """Each deployment's health as this instance knows it (shared copy merged with local memory)."""
        shared = await self._shared_snapshot(group)
        local_items = await self.local.read_group(group, now=self.clock())
        if not local_items:
            return shared
        merged = dict(shared)
        for deployment_id, local in local_items.items():
            other = merged.get(deployment_id)
            if other is None or local.cooldown_until > other.cooldown_until or local.fails > other.fails:
                merged[deployment_id] = local
        return merged

    async def failure(self, deployment: Deployment, error: GatewayError) -> DeploymentHealth:
        now = self.clock()
        retry_after = error.retry_after if _is_rate_limit(error) else None
        reason = error.code or "failure"
        snapshot = self._snapshots.get(deployment.group)
        known = snapshot.healths.get(deployment.id) if snapshot else None

        async def record(store: CooldownStore, known: DeploymentHealth | None) -> DeploymentHealth:
            return await store.record_failure(
                deployment.group,
                deployment.id,
                now=now,
                policy=self.policy,
                retry_after=retry_after,
                reason=reason,
                known=known,
            )

        health = await record(self.local, await self._local(deployment))
        if self.shared is not None and self.shared_usable():
            try:
                health = await record(self.shared, known)
            except TableUnavailable as exc:
                self._shared_failed(exc)
            else:
                if snapshot is not None:
                    snapshot.healths[deployment.id] = health
        if health.cooling(now):
            log.warning(
                "deployment %s cooling down for %.1fs (%s)", deployment.id, health.cooldown_until - now, health.reason
            )
        return health

    async def success(self, deployment: Deployment, latency: float) -> None:
        previous = self.latency.get(deployment.id)
        self.latency[deployment.id] = latency if previous is None else previous + _LATENCY_WEIGHT * (latency - previous)
        now = self.clock()
        local = await self._local(deployment)
        if local is not None and local.troubled(now):
            await self.local.clear(deployment.group, deployment.id)
        snapshot = self._snapshots.get(deployment.group)
        shared = snapshot.healths.get(deployment.id) if snapshot else None
        if self.shared is None or not self.shared_usable() or shared is None or not shared.troubled(now):
            return
        try:
            await self.shared.clear(deployment.group, deployment.id)
        except TableUnavailable as exc:
            self._shared_failed(exc)
            return
        if snapshot is not None:
            snapshot.healths.pop(deployment.id, None)

    async def _local(self, deployment: Deployment) -> DeploymentHealth | None:
        return await self.local.get(deployment.group, deployment.id)


def _is_rate_limit(error: GatewayError) -> bool:
    status = getattr(error, "upstream_status", None)
    return error.retry_after is not None and (status == 429 or isinstance(error, RateLimitError))
