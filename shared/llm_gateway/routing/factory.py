"""Build the router from its config section: the model groups, the attempt pipeline below it, the
shared cooldown store (when a state table is configured), the clock, sleeper and random source."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from llm_gateway.config import ConfigError
from llm_gateway.routing.config import RouterConfig
from llm_gateway.routing.cooldowns import CooldownStore
from llm_gateway.routing.health import HealthTracker
from llm_gateway.routing.router import Router

if TYPE_CHECKING:
    from llm_gateway.core.attempts import AttemptHandler
    from llm_gateway.core.deployments import ModelGroups
    from llm_gateway.secrets import SecretResolver
    from llm_gateway.tables.base import Table


def build_router(
    config: RouterConfig,
    groups: ModelGroups,
    attempts: AttemptHandler,
    secrets: SecretResolver,
    *,
    state: Table | None,
    rng: random.Random,
    sleep: Callable[[float], Awaitable[None]],
    clock: Callable[[], float],
    monotonic: Callable[[], float],
) -> Router:
    """``state``: StateTable, shared with every instance (``None``: each instance keeps its own view)."""
    unknown = sorted(name for name in config.groups_named() if name not in groups)
    if unknown:
        raise ConfigError(f"router: unknown model group(s) {', '.join(map(repr, unknown))}")
    shared = CooldownStore(state) if state is not None else None
    health = HealthTracker(config, shared, clock=clock, monotonic=monotonic)
    return Router(
        groups,
        attempts,
        secrets,
        rng=rng,
        config=config,
        health=health,
        sleep=sleep,
        clock=clock,
        monotonic=monotonic,
    )
