"""Build the router for a gateway: its config section, the shared cooldown store (when a state table is
configured), the injected clock, sleeper and random source."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from llm_gateway.config import ConfigError
from llm_gateway.routing.config import RouterConfig
from llm_gateway.routing.cooldowns import CooldownStore, DynamoCooldownStore
from llm_gateway.routing.health import HealthTracker
from llm_gateway.routing.router import Router

if TYPE_CHECKING:
    from llm_gateway.aws.state_table import AsyncTable
    from llm_gateway.gateway import Gateway


_STATE_TABLE_ATTR = "_llm_gateway_state_table"


def state_table(gateway: Gateway, timeout: float) -> AsyncTable | None:
    """StateTable (``LLM_GATEWAY_STATE_TABLE``) through the gateway's AWS clients, or ``None`` if unset.

    One per gateway, shared by the router and the idempotency layer (one boto3 client, built on first use).
    """
    from llm_gateway.aws.state_table import AsyncTable
    from llm_gateway.aws.tables import TableNames

    cached: AsyncTable | None = getattr(gateway, _STATE_TABLE_ATTR, None)
    if cached is not None:
        return cached
    name = TableNames.from_env(gateway.env).state
    if not name:
        return None
    clients: Any = gateway.options.aws_clients
    if clients is None:
        from llm_gateway.aws.clients import AwsClients

        clients = AwsClients(env=gateway.env)
    table = AsyncTable(lambda: clients("dynamodb"), name, timeout=timeout)
    setattr(gateway, _STATE_TABLE_ATTR, table)
    return table


def router_config(gateway: Gateway) -> RouterConfig:
    config: RouterConfig = getattr(gateway.config, "router", None) or RouterConfig()
    unknown = sorted(name for name in config.groups_named() if name not in gateway.groups)
    if unknown:
        raise ConfigError(f"router: unknown model group(s) {', '.join(map(repr, unknown))}")
    return config


def build_router(gateway: Gateway) -> Router:
    opts = gateway.options
    config = router_config(gateway)
    table = state_table(gateway, config.state_timeout)
    shared: CooldownStore | None = DynamoCooldownStore(table) if table is not None else None
    health = HealthTracker(config, shared, clock=opts.clock, monotonic=opts.monotonic)
    return Router(
        gateway.groups,
        gateway.providers,
        gateway.secrets,
        rng=opts.rng,
        config=config,
        health=health,
        sleep=opts.sleep or asyncio.sleep,
        clock=opts.clock,
        monotonic=opts.monotonic,
    )
