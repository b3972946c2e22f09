"""The tenant components (keys, limits, spend), built once per process from the ``tenants`` config section
and the deployment's tables.

Without a keys table only the master key is accepted; without a state or usage table, limits and spend
live in process memory (local runs: per instance, lost on restart).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from llm_gateway.core.afterwards import Afterwards
from llm_gateway.tables.base import Tables
from llm_gateway.tables.memory import MemoryTable
from llm_gateway.tenants.background import BackgroundJobs
from llm_gateway.tenants.config import TenantsConfig
from llm_gateway.tenants.keystore import KeyStore
from llm_gateway.tenants.pricing import PriceTable
from llm_gateway.tenants.ratelimit import RateLimiter
from llm_gateway.tenants.spend import SpendStore

if TYPE_CHECKING:
    from llm_gateway.api.auth import Authenticator
    from llm_gateway.secrets import SecretResolver
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


MEMORY_USAGE_RECORDS = 1_000


def build_tenant_services(
    config: TenantsConfig, tables: Tables, *, clock: Callable[[], float], afterwards: Afterwards
) -> TenantServices:
    state, usage = tables.state, tables.usage
    if state is None:
        if config.model_limits:
            log.warning("no state table: rate limits are counted per process (set LLM_GATEWAY_STATE_TABLE)")
        state = MemoryTable()
    if usage is None:
        # No usage table: keep the running sums, and only the latest detail records (bounded memory).
        usage = MemoryTable(capped_prefix="usage#", cap=MEMORY_USAGE_RECORDS)
    return TenantServices(
        config=config,
        keys=KeyStore(tables.keys) if tables.keys is not None else None,
        limiter=RateLimiter(state, clock, sliding=config.limits_window == "sliding", timeout=config.store_timeout),
        spend=SpendStore(usage, record_ttl_days=config.usage.record_ttl_days),
        prices=PriceTable(config.prices),
        jobs=BackgroundJobs(concurrency=config.usage.write_concurrency, max_pending=config.usage.max_pending_writes),
        clock=clock,
        afterwards=afterwards,
    )


def build_authenticator(
    services: TenantServices,
    *,
    env: Mapping[str, str],
    secrets: SecretResolver,
    clock: Callable[[], float],
    monotonic: Callable[[], float],
    master: MasterKeySource | None = None,
) -> Authenticator:
    """The master key (``master``, else ``LLM_GATEWAY_MASTER_KEY_REF``, else ``LLM_GATEWAY_MASTER_KEY``) and
    the virtual keys of the keys table."""
    from llm_gateway.api.auth import MASTER_KEY_ENV
    from llm_gateway.tenants.authenticator import (
        MASTER_KEY_REF_ENV,
        KeyAuthenticator,
        env_master_key,
        referenced_master_key,
    )

    if master is None:
        # a secret reference (SSM, Secrets Manager): the key never sits in the environment
        reference = (env.get(MASTER_KEY_REF_ENV) or "").strip()
        master = referenced_master_key(reference, secrets) if reference else env_master_key(env.get(MASTER_KEY_ENV))
    return KeyAuthenticator(
        master,
        services.keys,
        clock=clock,
        monotonic=monotonic,
        cache_seconds=services.config.key_cache_seconds,
        store_timeout=services.config.store_timeout,
    )
