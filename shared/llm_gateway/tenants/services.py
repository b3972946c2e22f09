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
from llm_gateway.tenants.budgets import Budgets
from llm_gateway.tenants.config import TenantsConfig
from llm_gateway.tenants.keystore import KeyStore
from llm_gateway.tenants.ledger import Ledger
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
    ledger: Ledger
    """Usage records, running sums and settlements of answered requests, written in batches."""
    budgets: Budgets
    """Budget reservations (a key with a budget holds a request's worst case before its call)."""
    clock: Callable[[], float]
    afterwards: Afterwards = field(default_factory=lambda: Afterwards(enabled=False))
    """Where usage records are queued once a request ends (the gateway's; off: written at once)."""

    async def flush_usage(self, timeout: float | None = None) -> bool:
        """Write every usage record and sum of the requests answered so far (those whose bookkeeping still
        waits after their response included); ``True`` when nothing is left pending."""
        self.afterwards.flush()
        return await self.ledger.flush(timeout=timeout)

    async def aclose(self) -> None:
        await self.flush_usage(timeout=5.0)  # Lambda allows a few hundred ms after SIGTERM; locally, bounded


MEMORY_USAGE_RECORDS = 1_000


def build_tenant_services(
    config: TenantsConfig,
    tables: Tables,
    *,
    clock: Callable[[], float],
    afterwards: Afterwards,
    per_request: bool = False,
    request_timeout: float = 600.0,
) -> TenantServices:
    """``per_request``: the process may be frozen as soon as an answer is sent (Lambda on demand), so each
    request's writes are flushed before its answer ends. ``request_timeout`` (the server's) keeps budget
    holds alive for at least the longest request."""
    state, usage = tables.state, tables.usage
    if state is None:
        if config.model_limits:
            log.warning("no state table: rate limits are counted per process (set LLM_GATEWAY_STATE_TABLE)")
        state = MemoryTable()
    if usage is None:
        # No usage table: keep the running sums, and only the latest detail records (bounded memory).
        usage = MemoryTable(capped_prefix="usage#", cap=MEMORY_USAGE_RECORDS)
    settings = config.usage
    ledger = Ledger(
        interval=settings.flush_interval,
        concurrency=settings.write_concurrency,
        max_pending=settings.max_pending_writes,
        per_request=per_request,
        request_timeout=settings.flush_timeout,
    )
    hold_seconds = max(config.budgets.hold_seconds, request_timeout * 1.1)
    return TenantServices(
        config=config,
        keys=KeyStore(tables.keys) if tables.keys is not None else None,
        limiter=RateLimiter(
            state, clock, sliding=config.limits_window == "sliding", timeout=config.store_timeout, ledger=ledger
        ),
        spend=SpendStore(usage, record_ttl_days=settings.record_ttl_days, ledger=ledger),
        prices=PriceTable(config.prices),
        ledger=ledger,
        budgets=Budgets(usage, ledger, hold_seconds=hold_seconds, timeout=config.store_timeout),
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
