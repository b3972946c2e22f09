"""The response cache as the pipeline sees it: decide, look up, store; every storage call guarded.

Storage faults (throttling, errors, slowness) never reach the client: each call is bounded by
``cache.timeout``, a failure is logged, counted and served as a miss, and after ``failure_threshold``
failures in a row the cache is skipped for ``failure_cooldown`` seconds so a sick table costs requests
nothing at all.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from llm_gateway.cache.answers import is_complete
from llm_gateway.cache.config import CacheConfig
from llm_gateway.cache.controls import CachePolicy, resolve_policy
from llm_gateway.cache.keys import cache_key, embeddings_cache_key
from llm_gateway.cache.metrics import CacheMetrics
from llm_gateway.cache.store import CacheEntry, CacheStore, EntryTooLarge, error_code
from llm_gateway.core.context import RequestContext
from llm_gateway.schemas.validation import ChatRequest
from llm_gateway.scopes import cache_scope

if TYPE_CHECKING:
    from llm_gateway.schemas.embeddings import EmbeddingRequest

log = logging.getLogger("llm_gateway.cache")
T = TypeVar("T")

THROTTLING_CODES = frozenset({"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"})


@dataclass(frozen=True)
class CacheDecision:
    policy: CachePolicy
    key: str


class ResponseCache:
    def __init__(
        self,
        config: CacheConfig,
        store: CacheStore,
        *,
        clock: Callable[[], float],
        monotonic: Callable[[], float],
        metrics: CacheMetrics | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.clock = clock
        self.monotonic = monotonic
        self.metrics = metrics or CacheMetrics()
        self._shared = frozenset(config.shared_namespaces)
        self._failures = 0
        self._skip_until = 0.0

    def decide(self, request: ChatRequest | EmbeddingRequest, ctx: RequestContext) -> CacheDecision | None:
        policy = resolve_policy(self.config, request, ctx.headers)
        if policy is None:
            return None
        scope = cache_scope(ctx.principal.key_id, policy.namespace, self._shared)
        key = cache_key(request, scope) if isinstance(request, ChatRequest) else embeddings_cache_key(request, scope)
        return CacheDecision(policy, key)

    async def lookup(
        self, decision: CacheDecision, ctx: RequestContext, *, consistent: bool = False
    ) -> CacheEntry | None:
        now = self.clock()
        entry = await self.guarded(
            "lookup", lambda: self.store.lookup(decision.key, now, consistent=consistent), None, ctx
        )
        if entry is None:
            return None
        max_age = decision.policy.max_age
        if max_age is not None and entry.age(now) > max_age:
            return None
        return entry

    async def save(
        self,
        decision: CacheDecision,
        completion: dict[str, Any],
        ctx: RequestContext,
        *,
        expected_choices: int,
        model_group: str,
    ) -> bool:
        """Store a complete, successful answer; anything else is counted and left out."""
        if not is_complete(completion, expected_choices):
            self.metrics.incr("not_stored.incomplete")
            return False
        return await self._store(decision, completion, ctx, model_group=model_group)

    async def save_embeddings(
        self, decision: CacheDecision, answer: dict[str, Any], ctx: RequestContext, *, inputs: int, model_group: str
    ) -> bool:
        """Store an embeddings answer that has one vector per input, in order."""
        from llm_gateway.embeddings.response import is_complete as has_every_vector  # not at cold start

        if not has_every_vector(answer, inputs):
            self.metrics.incr("not_stored.incomplete")
            return False
        return await self._store(decision, answer, ctx, model_group=model_group)

    async def _store(
        self, decision: CacheDecision, completion: dict[str, Any], ctx: RequestContext, *, model_group: str
    ) -> bool:
        if ctx.model_group is not None and ctx.model_group != model_group:
            # a fallback group answered: storing it under the requested group's key would serve one
            # model's answer as another's (and fallbacks are the caller's own choice, not in the key)
            self.metrics.incr("not_stored.fallback")
            return False
        now = self.clock()
        try:
            size = await self.guarded(
                "store",
                lambda: self.store.save(decision.key, completion, ttl=decision.policy.ttl, now=now),
                None,
                ctx,
                bound=2 * self.config.timeout,
            )
        except EntryTooLarge as exc:
            self.metrics.incr("not_stored.oversize")
            ctx.note("cache_not_stored", "oversize")
            log.info("answer not cached: %s", exc, extra={"fields": {"request_id": ctx.request_id}})
            return False
        if size is None:
            return False
        self.metrics.incr("stored")
        ctx.note("cache_stored_bytes", size)
        return True

    async def guarded(
        self,
        operation: str,
        call: Callable[[], Awaitable[T]],
        fallback: T,
        ctx: RequestContext,
        *,
        bound: float | None = None,
    ) -> T:
        """Run one storage call within its time bound; on any failure, count it and return ``fallback``.
        :class:`EntryTooLarge` is not a failure and propagates."""
        if self.monotonic() < self._skip_until:
            self.metrics.incr(f"skipped.{operation}")
            ctx.note("cache_error", f"{operation}:skipped")
            return fallback
        try:
            async with asyncio.timeout(bound or self.config.timeout):
                result = await call()
        except EntryTooLarge:
            raise
        except TimeoutError:
            self._failed(operation, "timeout", None, ctx)
            return fallback
        except Exception as exc:
            kind = "throttled" if error_code(exc) in THROTTLING_CODES else "error"
            self._failed(operation, kind, exc, ctx)
            return fallback
        self._failures = 0
        return result

    def _failed(self, operation: str, kind: str, exc: Exception | None, ctx: RequestContext) -> None:
        self.metrics.incr(f"{kind}.{operation}")
        ctx.note("cache_error", f"{operation}:{kind}")
        self._failures += 1
        opened = self._failures >= self.config.failure_threshold and self.config.failure_cooldown > 0
        if opened:
            self._skip_until = self.monotonic() + self.config.failure_cooldown
            self._failures = 0
            self.metrics.incr("skipped.opened")
        log.warning(
            "cache %s failed (%s); the request goes on without the cache%s",
            operation,
            kind,
            f", skipping the cache for {self.config.failure_cooldown:g}s" if opened else "",
            extra={
                "fields": {
                    "request_id": ctx.request_id,
                    "cache_operation": operation,
                    "cache_fault": kind,
                    "error": type(exc).__name__ if exc is not None else "TimeoutError",
                    "error_code": error_code(exc) if exc is not None else None,
                }
            },
        )

    async def aclose(self) -> None:
        await self.store.close()
