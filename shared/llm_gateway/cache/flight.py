"""Single flight: identical concurrent non-stream misses make one upstream call.

Within a process, the first request (the leader) registers a future; identical requests await it.
Across instances (each Lambda instance serves one request at a time, so this is the case that matters
there) the leader also writes a short lease item with a conditional put; an instance that finds a live
lease polls the table for the stored answer instead of calling upstream. Every wait is bounded
(``single_flight.wait`` and the request's own deadline): after it, or as soon as the leader fails or
its lease disappears without an answer, a waiting request calls upstream itself.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from llm_gateway.cache.config import SingleFlightConfig
from llm_gateway.cache.response_cache import CacheDecision, ResponseCache
from llm_gateway.cache.store import CacheEntry
from llm_gateway.core.context import RequestContext

Completion = dict[str, Any]
DEADLINE_MARGIN = 1.0
MAX_POLL_INTERVAL = 1.0


class SingleFlight:
    def __init__(
        self,
        cache: ResponseCache,
        config: SingleFlightConfig,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.cache = cache
        self.config = config
        self.sleep = sleep
        self._inflight: dict[str, tuple[asyncio.AbstractEventLoop, asyncio.Future[Completion | None]]] = {}

    async def run(
        self, decision: CacheDecision, ctx: RequestContext, fetch: Callable[[], Awaitable[Completion]]
    ) -> tuple[Completion, CacheEntry | None]:
        """The answer, and the entry it was shared from (``None`` when this request made the call)."""
        metrics = self.cache.metrics
        bound = min(self.config.wait, ctx.remaining() - DEADLINE_MARGIN)
        loop = asyncio.get_running_loop()
        running = self._inflight.get(decision.key)
        if running is not None and running[0] is loop:
            metrics.incr("single_flight.local_wait")
            finished, shared = await self._await_local(running[1], bound)
            if shared is not None:
                metrics.incr("single_flight.shared_local")
                now = self.cache.clock()
                return shared, CacheEntry(shared, now, now)
            metrics.incr("single_flight.leader_gone" if finished else "single_flight.waited_out")
            return await fetch(), None

        future: asyncio.Future[Completion | None] = loop.create_future()
        self._inflight[decision.key] = (loop, future)
        owner = uuid.uuid4().hex
        result: Completion | None = None
        leading = True
        try:
            if self.config.distributed and bound > 0:
                leading = await self._claim(decision, ctx, owner)
                if not leading:
                    metrics.incr("single_flight.remote_wait")
                    entry = await self._await_remote(decision, ctx, bound)
                    if entry is not None:
                        metrics.incr("single_flight.shared_remote")
                        result = entry.completion
                        return entry.completion, entry
            if leading:
                metrics.incr("single_flight.leader")
            result = await fetch()
            return result, None
        finally:
            if not future.done():
                # a snapshot: the leader's own outer layers may change their copy before waiters read it
                future.set_result(orjson.loads(orjson.dumps(result)) if result is not None else None)
            if self._inflight.get(decision.key) == (loop, future):
                del self._inflight[decision.key]
            if self.config.distributed and leading and bound > 0:
                await self.cache.guarded(
                    "lease", lambda: self.cache.store.release(decision.key, owner=owner), None, ctx
                )

    async def _await_local(
        self, future: asyncio.Future[Completion | None], bound: float
    ) -> tuple[bool, Completion | None]:
        """(whether the leader finished in time, its answer: ``None`` if it failed)."""
        if bound <= 0:
            return False, None
        try:
            async with asyncio.timeout(bound):
                return True, await asyncio.shield(future)
        except TimeoutError:
            return False, None

    async def _claim(self, decision: CacheDecision, ctx: RequestContext, owner: str) -> bool:
        now = self.cache.clock()
        until = now + min(self.config.lease, max(1.0, ctx.remaining()))
        # If the table cannot be reached, lead without coordination (the caller is served either way).
        return await self.cache.guarded(
            "lease", lambda: self.cache.store.claim(decision.key, owner=owner, until=until, now=now), True, ctx
        )

    async def _leased(self, decision: CacheDecision) -> bool:
        return await self.cache.store.leased(decision.key, self.cache.clock())

    async def _await_remote(self, decision: CacheDecision, ctx: RequestContext, bound: float) -> CacheEntry | None:
        """Poll for the leader's answer until it appears, the lease goes away, or ``bound`` passes."""
        metrics = self.cache.metrics
        deadline = self.cache.monotonic() + bound
        pause = self.config.poll_interval
        while True:
            left = deadline - self.cache.monotonic()
            if left <= 0:
                metrics.incr("single_flight.waited_out")
                return None
            await self.sleep(min(pause, left))
            entry = await self.cache.lookup(decision, ctx, consistent=True)
            if entry is not None:
                return entry
            leased = await self.cache.guarded("lease", lambda: self._leased(decision), False, ctx)
            if not leased:
                # The leader finished or failed; it stores before it lets go, so look once more.
                entry = await self.cache.lookup(decision, ctx, consistent=True)
                if entry is None:
                    metrics.incr("single_flight.leader_gone")
                return entry
            pause = min(pause * 1.5, MAX_POLL_INTERVAL)
