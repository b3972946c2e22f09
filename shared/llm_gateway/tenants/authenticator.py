"""Authenticate the master key and virtual keys, with a short in-memory cache of key lookups.

A lookup (hit or miss) is reused for ``cache_seconds``: that is the longest a revocation, rotation or
settings change takes to reach a running instance. Expiry is checked against the clock on every request,
so an expired key is refused at once, cached or not.
"""

from __future__ import annotations

import hmac
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from llm_gateway.api.auth import MASTER_KEY_ENV
from llm_gateway.core.context import Principal
from llm_gateway.errors import AuthenticationError, ServiceUnavailableError
from llm_gateway.secrets import SecretError, SecretResolver
from llm_gateway.tenants.aio import call_store
from llm_gateway.tenants.keystore import KeyStore
from llm_gateway.tenants.records import KeyRecord, hash_key

MasterKeySource = Callable[[], Awaitable[str | None]]
MASTER_KEY_REF_ENV = "LLM_GATEWAY_MASTER_KEY_REF"
log = logging.getLogger("llm_gateway.auth")
MAX_CACHED_KEYS = 10_000


def env_master_key(value: str | None) -> MasterKeySource:
    async def source() -> str | None:
        return value

    return source


def referenced_master_key(reference: str, secrets: SecretResolver) -> MasterKeySource:
    """The master key behind a secret reference (``ssm:/llm-gateway/prod/master-key``, ``secretsmanager:...``,
    ``env:VAR``), resolved through the gateway's resolver: cached for its TTL, so a rotation applies then."""

    async def source() -> str | None:
        try:
            return await secrets.resolve(reference)
        except SecretError as exc:
            log.error("cannot load the master key: %s", exc)
            raise ServiceUnavailableError(
                "The gateway cannot load its master key; try again later.", code="master_key_unavailable"
            ) from None

    return source


def principal_for(record: KeyRecord) -> Principal:
    return Principal(
        key_id=record.key_id,
        owner=record.owner,
        allowed_models=frozenset(record.models) if record.models is not None else None,
        metadata=dict(record.metadata),
        rpm=record.rpm,
        tpm=record.tpm,
        budget_usd=record.budget_usd,
        budget_period=record.budget_period,
        guardrails=record.guardrails,
    )


MASTER = Principal(key_id="master", owner="master", is_master=True)


@dataclass
class _Cached:
    record: KeyRecord | None
    fetched_at: float


class KeyAuthenticator:
    """The master key (from ``master_key``, e.g. env locally, SSM/Secrets Manager in AWS) or a virtual key
    from ``store`` (``None``: master key only)."""

    def __init__(
        self,
        master_key: MasterKeySource,
        store: KeyStore | None,
        *,
        clock: Callable[[], float],
        monotonic: Callable[[], float],
        cache_seconds: float = 10.0,
        store_timeout: float = 1.0,
    ) -> None:
        self._master_key = master_key
        self._store = store
        self._clock = clock
        self._monotonic = monotonic
        self.cache_seconds = cache_seconds
        self.store_timeout = store_timeout
        self._cache: OrderedDict[str, _Cached] = OrderedDict()
        self.lookups = 0
        """Store reads made so far (the benchmark and tests count them)."""

    async def authenticate(self, token: str | None) -> Principal:
        if token is None:
            raise AuthenticationError(
                "You didn't provide an API key. Send it as 'Authorization: Bearer YOUR_KEY'.",
                code="missing_api_key",
            )
        try:
            master = await self._master_key()
        except ServiceUnavailableError:
            if self._store is None:
                raise
            # the secret store is down: virtual keys still work; anything else may be the master key
            record = await self._lookup(hash_key(token))
            if record is None or record.refusal(self._clock()) is not None:
                raise
            return principal_for(record)
        if master and hmac.compare_digest(token.encode(), master.encode()):
            return MASTER
        if self._store is None:
            if not master:
                raise AuthenticationError(
                    f"The gateway has no master key configured ({MASTER_KEY_ENV}); it refuses every request."
                )
            raise AuthenticationError("Incorrect API key provided.")
        record = await self._lookup(hash_key(token))
        if record is None:
            raise AuthenticationError("Incorrect API key provided.")
        reason = record.refusal(self._clock())
        if reason is not None:
            raise AuthenticationError(reason)
        return principal_for(record)

    async def _lookup(self, key_hash: str) -> KeyRecord | None:
        now = self._monotonic()
        cached = self._cache.get(key_hash)
        if cached is not None and now - cached.fetched_at < self.cache_seconds:
            self._cache.move_to_end(key_hash)
            return cached.record
        assert self._store is not None
        self.lookups += 1
        record = await call_store(
            "key store",
            self._store.get_by_hash(key_hash),
            timeout=self.store_timeout,
            blocking=self._store.table.blocking,
        )
        if self.cache_seconds > 0:
            self._cache[key_hash] = _Cached(record, now)
            self._cache.move_to_end(key_hash)
            while len(self._cache) > MAX_CACHED_KEYS:
                self._cache.popitem(last=False)
        return record
