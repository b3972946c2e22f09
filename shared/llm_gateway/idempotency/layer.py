"""The ``Idempotency-Key`` pipeline layer (outside the response cache).

A request carrying ``Idempotency-Key`` claims that key for its caller (``ctx.principal.key_id``):

- key free: the request runs; a successful answer is stored for ``ttl_seconds`` (a stream's chunks
  once it completed), a failed one frees the key again so the client may retry;
- key done, same body: the stored answer comes back (a stream is replayed chunk by chunk) with
  ``idempotent-replayed: true``, and no upstream is called;
- key still running: 409 with ``Retry-After``;
- key used with a different body: 422.

Embeddings requests are held to the same contract (their answer is stored and replayed whole).

If the state table is unreachable, keys are held in process memory for a while (each instance then
protects only its own duplicates) and requests are still served.
"""

from __future__ import annotations

import hashlib
import logging
import re
import uuid
import zlib
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import orjson

from llm_gateway.core.context import RequestContext
from llm_gateway.core.pipeline import ChatHandler, Layer, OpenedStream, StreamEnd, replay, watch_stream
from llm_gateway.errors import ConflictError, InvalidRequestError, UnprocessableError
from llm_gateway.idempotency.config import IdempotencyConfig
from llm_gateway.idempotency.store import IdempotencyRecord, IdempotencyStore
from llm_gateway.schemas.validation import ChatRequest
from llm_gateway.scopes import idempotency_pk
from llm_gateway.tables.base import Table, TableUnavailable
from llm_gateway.tables.memory import MemoryTable

if TYPE_CHECKING:
    from llm_gateway.schemas.embeddings import EmbeddingRequest

log = logging.getLogger("llm_gateway.idempotency")

HEADER = "idempotency-key"
REPLAYED_HEADER = "idempotent-replayed"
_VALID_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")


class _Claim:
    def __init__(self, key: str, owner: str, body_hash: str) -> None:
        self.key = key
        self.owner = owner
        self.body_hash = body_hash


class IdempotencyLayer(Layer):
    def __init__(
        self,
        inner: ChatHandler,
        store: IdempotencyStore,
        config: IdempotencyConfig,
        *,
        lease_seconds: float,
        clock: Callable[[], float],
        fallback_seconds: float = 30.0,
        monotonic: Callable[[], float] | None = None,
    ) -> None:
        super().__init__(inner)
        self.store = store
        self.config = config
        self.lease_seconds = lease_seconds
        self.clock = clock
        self.monotonic = monotonic or clock
        self.fallback = IdempotencyStore(MemoryTable())
        self.fallback_seconds = fallback_seconds
        self._store_down_until = 0.0

    # -- store access with an outage fallback ----------------------------------------------------------

    def _active(self) -> IdempotencyStore:
        return self.fallback if self.monotonic() < self._store_down_until else self.store

    async def _call(self, operation: str, *args: Any, **kwargs: Any) -> Any:
        store = self._active()
        try:
            return await getattr(store, operation)(*args, **kwargs)
        except TableUnavailable as exc:
            self._store_down_until = self.monotonic() + self.fallback_seconds
            log.warning("idempotency table unavailable, holding keys in memory for %ss: %s", self.fallback_seconds, exc)
            return await getattr(self.fallback, operation)(*args, **kwargs)

    # -- the layer -------------------------------------------------------------------------------------

    async def complete(self, request: ChatRequest, ctx: RequestContext) -> dict[str, Any]:
        return await self._once(request, ctx, lambda: self.inner.complete(request, ctx), "complete")

    async def embed(self, request: EmbeddingRequest, ctx: RequestContext) -> dict[str, Any]:
        return await self._once(request, ctx, lambda: self.inner.embed(request, ctx), "embeddings")

    async def _once(
        self,
        request: ChatRequest | EmbeddingRequest,
        ctx: RequestContext,
        run: Callable[[], Awaitable[dict[str, Any]]],
        kind: str,
    ) -> dict[str, Any]:
        """A whole (non-stream) answer: run once per key, stored, replayed for the same body."""
        claim, stored = await self._claim(request, ctx)
        if claim is None:
            if stored is None:
                return await run()
            self._replayed(ctx, stored)
            result: dict[str, Any] = orjson.loads(zlib.decompress(stored.payload or b""))
            return result
        try:
            result = await run()
        except BaseException:
            await self._call("release", claim.key, claim.owner)
            raise
        await self._finish(claim, ctx, kind, result)
        return result

    async def open_stream(self, request: ChatRequest, ctx: RequestContext) -> OpenedStream:
        claim, stored = await self._claim(request, ctx)
        if claim is None:
            if stored is None:
                return await self.inner.open_stream(request, ctx)
            self._replayed(ctx, stored)
            return await replay(orjson.loads(zlib.decompress(stored.payload or b"")))
        try:
            opened = await self.inner.open_stream(request, ctx)
        except BaseException:
            await self._call("release", claim.key, claim.owner)
            raise
        chunks: list[dict[str, Any]] = []

        async def on_end(outcome: StreamEnd, failure: BaseException | None) -> None:
            if outcome == "complete":
                await self._finish(claim, ctx, "stream", chunks)
            else:
                await self._call("release", claim.key, claim.owner)

        return watch_stream(opened, on_chunk=chunks.append, on_end=on_end)

    # -- steps -------------------------------------------------------------------------------------------

    async def _claim(
        self, request: ChatRequest | EmbeddingRequest, ctx: RequestContext
    ) -> tuple[_Claim | None, IdempotencyRecord | None]:
        """``(claim, None)`` to run the request; ``(None, record)`` to replay; ``(None, None)`` without a key."""
        given = ctx.headers.get(HEADER)
        if given is None:
            return None, None
        if not _VALID_KEY.match(given):
            raise InvalidRequestError(
                "The Idempotency-Key header must be 1 to 255 visible ASCII characters.",
                code="invalid_idempotency_key",
            )
        body_hash = hashlib.sha256(orjson.dumps(request.body, option=orjson.OPT_SORT_KEYS)).hexdigest()
        claim = _Claim(idempotency_pk(ctx.principal.key_id, given), uuid.uuid4().hex, body_hash)
        now = self.clock()
        pending = IdempotencyRecord(
            status="in_progress", body_hash=body_hash, owner=claim.owner, expires_at=now + self.lease_seconds
        )
        existing = await self._call("claim", claim.key, pending, now=now)
        if existing is None:
            ctx.note("idempotency", "claimed")
            return claim, None
        if existing.body_hash != body_hash:
            raise UnprocessableError(
                "This Idempotency-Key was already used with a different request body. Use a new key for a new request.",
                code="idempotency_key_reused",
            )
        if existing.status != "completed" or existing.payload is None:
            raise ConflictError(
                "A request with this Idempotency-Key is still being processed. Retry after it finishes.",
                code="idempotency_key_in_use",
                retry_after=self.config.conflict_retry_after,
            )
        return None, existing

    async def _finish(self, claim: _Claim, ctx: RequestContext, kind: str, answer: Any) -> None:
        payload = zlib.compress(orjson.dumps(answer), 6)
        if len(payload) > self.config.max_stored_bytes:
            log.warning("idempotent answer too large to store (%d bytes compressed); key released", len(payload))
            ctx.note("idempotency", "too_large")
            await self._call("release", claim.key, claim.owner)
            return
        record = IdempotencyRecord(
            status="completed",
            body_hash=claim.body_hash,
            owner=claim.owner,
            expires_at=self.clock() + self.config.ttl_seconds,
            kind=kind,
            payload=payload,
            model_group=ctx.model_group,
            deployment_id=ctx.deployment_id,
        )
        await self._call("finish", claim.key, record)
        ctx.note("idempotency", "stored")

    def _replayed(self, ctx: RequestContext, record: IdempotencyRecord) -> None:
        ctx.set_header(REPLAYED_HEADER, "true")
        ctx.note("idempotency", "replayed")
        if record.model_group:
            ctx.model_group = record.model_group
        if record.deployment_id:
            ctx.deployment_id = record.deployment_id


def idempotency_layer(
    inner: ChatHandler,
    config: IdempotencyConfig,
    *,
    table: Table | None,
    request_timeout: float,
    fallback_seconds: float,
    clock: Callable[[], float],
    monotonic: Callable[[], float],
) -> ChatHandler | None:
    """The layer (``None`` when switched off), over ``table`` (StateTable), else process memory. An
    unfinished claim lasts ``lease_seconds``, by default the request timeout and 30 s more."""
    if not config.enabled:
        return None
    store = IdempotencyStore(table if table is not None else MemoryTable())
    return IdempotencyLayer(
        inner,
        store,
        config,
        lease_seconds=config.lease_seconds or request_timeout + 30.0,
        clock=clock,
        monotonic=monotonic,
        fallback_seconds=fallback_seconds,
    )
