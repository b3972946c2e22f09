"""The cache layer: just outside the router, so a hit costs no routing, no retries and no upstream call.

Response headers: ``x-llm-gateway-cache: hit | miss | bypass`` (bypass: the cache was not read for this
request) and, on a hit, ``age`` (seconds since the answer was stored). The request log gets
``cache`` (the same status) and, on a hit, the original usage with ``cache=hit`` so spend tracking can
charge it as zero upstream cost. Embeddings requests are cached under the same controls and scopes,
with keys of their own (:func:`~llm_gateway.cache.keys.embeddings_cache_key`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import orjson

from llm_gateway.cache.answers import StreamAssembler, completion_chunks, replayable
from llm_gateway.cache.controls import CachePolicy
from llm_gateway.cache.flight import SingleFlight
from llm_gateway.cache.response_cache import CacheDecision, ResponseCache
from llm_gateway.cache.store import CacheEntry
from llm_gateway.core.context import RequestContext
from llm_gateway.core.pipeline import ChatHandler, Layer, OpenedStream, StreamEnd, replay, watch_stream
from llm_gateway.errors import GatewayError
from llm_gateway.ids import random_hex
from llm_gateway.schemas.validation import ChatRequest

if TYPE_CHECKING:
    from llm_gateway.schemas.embeddings import EmbeddingRequest

STATUS_HEADER = "x-llm-gateway-cache"


class CacheLayer(Layer):
    def __init__(self, inner: ChatHandler, cache: ResponseCache, *, model_known: Callable[[str], bool]) -> None:
        super().__init__(inner)
        self.cache = cache
        self.model_known = model_known
        self.flight = SingleFlight(cache, cache.config.single_flight) if cache.config.single_flight.enabled else None

    def _decide(self, request: ChatRequest | EmbeddingRequest, ctx: RequestContext) -> CacheDecision | None:
        # A hit skips the router, so check here what it would have refused (unknown model, key not allowed).
        if not self.model_known(request.model) or not ctx.principal.may_use(request.model):
            return None
        return self.cache.decide(request, ctx)

    def _status(self, ctx: RequestContext, status: str) -> None:
        ctx.set_header(STATUS_HEADER, status)
        ctx.note("cache", status)
        self.cache.metrics.incr(status)

    def _hit(self, entry: CacheEntry, ctx: RequestContext) -> dict[str, Any]:
        """A private copy of the stored answer with a fresh id and time, as a new answer would have."""
        completion: dict[str, Any] = orjson.loads(orjson.dumps(entry.completion))
        now = self.cache.clock()
        completion["id"] = f"chatcmpl-{random_hex()}"
        completion["created"] = int(now)
        age = entry.age(now)
        self._status(ctx, "hit")
        ctx.set_header("age", str(age))
        ctx.note("cache_age", age)
        ctx.usage = completion.get("usage")
        return completion

    def _refuse_if_only_cached(self, policy: CachePolicy, ctx: RequestContext) -> None:
        if policy.only_if_cached:
            self._status(ctx, "miss" if policy.read else "bypass")
            raise GatewayError(
                "The answer is not in the cache, and the request said 'Cache-Control: only-if-cached'.",
                status_code=504,
                error_type="invalid_request_error",
                code="cache_miss",
            )

    async def _look(
        self, request: ChatRequest | EmbeddingRequest, ctx: RequestContext
    ) -> tuple[CacheDecision | None, CacheEntry | None]:
        """The request's cache decision (``None``: bypass, already marked) and the entry found, if any."""
        decision = self._decide(request, ctx)
        if decision is None:
            self._status(ctx, "bypass")
            return None, None
        if not decision.policy.read:
            return decision, None
        return decision, await self.cache.lookup(decision, ctx)

    async def complete(self, request: ChatRequest, ctx: RequestContext) -> dict[str, Any]:
        decision, entry = await self._look(request, ctx)
        if decision is None:
            return await self.inner.complete(request, ctx)
        if entry is not None:
            return self._hit(entry, ctx)
        policy = decision.policy
        self._refuse_if_only_cached(policy, ctx)

        async def fetch() -> dict[str, Any]:
            completion = await self.inner.complete(request, ctx)
            if policy.store:
                await self.cache.save(decision, completion, ctx, expected_choices=request.n, model_group=request.model)
            return completion

        return await self._fetch_once(decision, ctx, fetch, self._hit)

    async def _fetch_once(
        self,
        decision: CacheDecision,
        ctx: RequestContext,
        fetch: Callable[[], Awaitable[dict[str, Any]]],
        hit: Callable[[CacheEntry, RequestContext], dict[str, Any]],
    ) -> dict[str, Any]:
        """A miss: fetch (through single flight when on), or share what an identical request fetched."""
        policy = decision.policy
        if self.flight is None or not (policy.read and policy.store):
            completion = await fetch()
        else:
            completion, shared = await self.flight.run(decision, ctx, fetch)
            if shared is not None:
                return hit(shared, ctx)
        self._status(ctx, "miss" if policy.read else "bypass")
        return completion

    async def embed(self, request: EmbeddingRequest, ctx: RequestContext) -> dict[str, Any]:
        decision, entry = await self._look(request, ctx)
        if decision is None:
            return await self.inner.embed(request, ctx)
        if entry is not None:
            return self._embeddings_hit(entry, ctx)
        policy = decision.policy
        self._refuse_if_only_cached(policy, ctx)

        async def fetch() -> dict[str, Any]:
            answer = await self.inner.embed(request, ctx)
            if policy.store:
                await self.cache.save_embeddings(
                    decision, answer, ctx, inputs=len(request.input), model_group=request.model
                )
            return answer

        return await self._fetch_once(decision, ctx, fetch, self._embeddings_hit)

    def _embeddings_hit(self, entry: CacheEntry, ctx: RequestContext) -> dict[str, Any]:
        """The stored answer (never altered downstream: the service encodes into a new object)."""
        age = entry.age(self.cache.clock())
        self._status(ctx, "hit")
        ctx.set_header("age", str(age))
        ctx.note("cache_age", age)
        ctx.usage = entry.completion.get("usage")
        return entry.completion

    async def open_stream(self, request: ChatRequest, ctx: RequestContext) -> OpenedStream:
        decision, entry = await self._look(request, ctx)
        if decision is None:
            return await self.inner.open_stream(request, ctx)
        if entry is not None and replayable(entry.completion):
            completion = self._hit(entry, ctx)
            return await replay(completion_chunks(completion, include_usage=request.include_usage))
        if entry is not None:
            self.cache.metrics.incr("not_replayable")
        policy = decision.policy
        self._refuse_if_only_cached(policy, ctx)
        self._status(ctx, "miss" if policy.read else "bypass")
        opened = await self.inner.open_stream(request, ctx)
        if not policy.store:
            return opened
        assembler = StreamAssembler()

        async def on_end(outcome: StreamEnd, failure: BaseException | None) -> None:
            if outcome != "complete":
                self.cache.metrics.incr(f"not_stored.stream_{outcome}")
                return
            completion = assembler.completion()
            if completion is None:
                self.cache.metrics.incr("not_stored.unsupported")
                return
            await self.cache.save(decision, completion, ctx, expected_choices=request.n, model_group=request.model)

        return watch_stream(opened, on_chunk=assembler.feed, on_end=on_end)
