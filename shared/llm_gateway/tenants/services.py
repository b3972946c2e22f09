"""Build the tenant components once per process from the gateway's config and environment.

Tables come from ``LLM_GATEWAY_KEYS_TABLE`` / ``LLM_GATEWAY_STATE_TABLE`` / ``LLM_GATEWAY_USAGE_TABLE``
(DynamoDB through the gateway's lazily created boto3 clients). Without a keys table only the master
key is accepted; without a state or usage table, limits and spend live in process memory (local runs:
per instance, lost on restart). Tests inject tables with ``GatewayOptions.extras["tenant_tables"]``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from llm_gateway.core.afterwards import Afterwards
from llm_gateway.tenants.background import BackgroundJobs
from llm_gateway.tenants.config import TenantsConfig
from llm_gateway.tenants.keystore import KeyStore
from llm_gateway.tenants.pricing import PriceTable
from llm_gateway.tenants.ratelimit import RateLimiter
from llm_gateway.tenants.spend import SpendStore
from llm_gateway.tenants.table import MemoryTable, Table

if TYPE_CHECKING:
    from llm_gateway.api.auth import Authenticator
    from llm_gateway.gateway import Gateway
    from llm_gateway.tenants.authenticator import MasterKeySource

log = logging.getLogger("llm_gateway.tenants")


@dataclass
class TenantServices:
    config: TenantsConfig
    keys: KeyStore | None
    limiter: RateLimiter
    spend: SpendStore
    prices: PriceTable
    jobs: BackgroundJobs
    clock: Callable[[], float]
    afterwards: Afterwards = field(default_factory=lambda: Afterwards(enabled=False))
    """Where usage records are queued once a request ends (the gateway's; off: written at once)."""

    async def flush_usage(self, timeout: float | None = None) -> None:
        """Write every usage record of the requests answered so far: those still queued after their
        response, then those being written."""
        self.afterwards.flush()
        await self.jobs.flush(timeout=timeout)

    async def aclose(self) -> None:
        await self.flush_usage(timeout=5.0)  # Lambda allows a few hundred ms after SIGTERM; locally, bounded


def tenants_config(gateway: Gateway) -> TenantsConfig:
    section = getattr(gateway.config, "tenants", None)
    return section if isinstance(section, TenantsConfig) else TenantsConfig()


def _tables(gateway: Gateway) -> dict[str, Table | None]:
    injected = gateway.options.extras.get("tenant_tables")
    if injected is not None:
        return {name: injected.get(name) for name in ("keys", "state", "usage")}
    from llm_gateway.aws.tables import TableNames

    names = TableNames.from_env(gateway.env)
    wanted = {"keys": names.keys, "state": names.state, "usage": names.usage}
    if not any(wanted.values()):
        return {"keys": None, "state": None, "usage": None}
    from llm_gateway.tenants.dynamo import DynamoTable

    client = dynamodb_client(gateway)
    return {name: DynamoTable(client, table) if table else None for name, table in wanted.items()}


def aws_clients(gateway: Gateway) -> Callable[..., Any]:
    """The gateway's boto3 client factory (one per process), else the injected one, else a new one."""
    aws: Callable[..., Any] | None = getattr(gateway, "aws", None) or gateway.options.aws_clients
    if aws is None:
        from llm_gateway.aws.clients import AwsClients

        aws = AwsClients(gateway.env)
    return aws


def dynamodb_client(gateway: Gateway) -> Any:
    return aws_clients(gateway)("dynamodb", endpoint_url=gateway.env.get("AWS_ENDPOINT_URL_DYNAMODB") or None)


MEMORY_USAGE_RECORDS = 1_000


def build_tenant_services(gateway: Gateway) -> TenantServices:
    config = tenants_config(gateway)
    tables = _tables(gateway)
    state, usage = tables["state"], tables["usage"]
    if state is None:
        if config.model_limits:
            log.warning("no state table: rate limits are counted per process (set LLM_GATEWAY_STATE_TABLE)")
        state = MemoryTable()
    if usage is None:
        # No usage table: keep the running sums, and only the latest detail records (bounded memory).
        usage = MemoryTable(capped_prefix="usage#", cap=MEMORY_USAGE_RECORDS)
    keys = tables["keys"]
    clock = gateway.options.clock
    return TenantServices(
        config=config,
        keys=KeyStore(keys) if keys is not None else None,
        limiter=RateLimiter(state, clock, sliding=config.limits_window == "sliding", timeout=config.store_timeout),
        spend=SpendStore(usage, record_ttl_days=config.usage.record_ttl_days),
        prices=PriceTable(config.prices),
        jobs=BackgroundJobs(concurrency=config.usage.write_concurrency, max_pending=config.usage.max_pending_writes),
        clock=clock,
        afterwards=gateway.afterwards,
    )


def build_authenticator(gateway: Gateway, services: TenantServices, master: MasterKeySource | None) -> Authenticator:
    from llm_gateway.api.auth import MASTER_KEY_ENV
    from llm_gateway.tenants.authenticator import (
        MASTER_KEY_REF_ENV,
        KeyAuthenticator,
        env_master_key,
        referenced_master_key,
    )

    if master is None:
        reference = (gateway.env.get(MASTER_KEY_REF_ENV) or "").strip()
        if reference:  # a secret reference (SSM, Secrets Manager): the key never sits in the environment
            master = referenced_master_key(reference, gateway.secrets)
        else:
            master = env_master_key(gateway.env.get(MASTER_KEY_ENV))
    return KeyAuthenticator(
        master,
        services.keys,
        clock=gateway.options.clock,
        monotonic=gateway.options.monotonic,
        cache_seconds=services.config.key_cache_seconds,
        store_timeout=services.config.store_timeout,
    )
