"""The limits-and-spend layer: admit a request (model access, budget, rate limits), then account for it.

Before the call: at most one budget read and one counter write per limited scope (key, model group),
all at once. After the answer (or the stream's end, including a client that left mid-stream): the cost
from the price table, the request's figures in ``ctx.notes`` for the request log, and, in the background,
the usage record, the running spend and the token settlement of the rate-limit window.

Embeddings go through the same admission and accounting: their estimate is the input's tokens (nothing
is generated), their cost the prompt tokens at the model's ``input`` price.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from llm_gateway.core.pipeline import ChatHandler, Layer, OpenedStream, StreamEnd, watch_stream
from llm_gateway.errors import GatewayError, PermissionDeniedError, RateLimitError, ServiceUnavailableError
from llm_gateway.schemas.validation import ChatRequest
from llm_gateway.tenants.aio import call_store
from llm_gateway.tenants.pricing import Tokens
from llm_gateway.tenants.ratelimit import Decision, Quota, format_reset, ratelimit_headers
from llm_gateway.tenants.spend import UsageRecord
from llm_gateway.tenants.tokens import chunk_text, completion_budget, prompt_tokens, text_tokens

if TYPE_CHECKING:
    from llm_gateway.core.context import RequestContext
    from llm_gateway.core.deployments import ModelGroups
    from llm_gateway.schemas.embeddings import EmbeddingRequest
    from llm_gateway.tenants.services import TenantServices

    Admitted = ChatRequest | EmbeddingRequest

log = logging.getLogger("llm_gateway.tenants")


class InsufficientQuotaError(GatewayError):
    status_code = 429
    error_type = "insufficient_quota"
    default_code = "insufficient_quota"


@dataclass
class Ticket:
    """What admission decided, carried to the accounting at the end."""

    body: dict[str, Any] = field(repr=False)
    decisions: list[Decision] = field(default_factory=list)
    completion_text: list[str] = field(default_factory=list)
    usage: dict[str, Any] | None = None
    _prompt_estimate: int | None = field(default=None, repr=False)

    @property
    def prompt_estimate(self) -> int:
        """Counted on first use: only rate limits and answers without a usage report need it, and it
        reads every message."""
        if self._prompt_estimate is None:
            self._prompt_estimate = prompt_tokens(self.body)
        return self._prompt_estimate

    @classmethod
    def of(cls, request: Admitted) -> Ticket:
        if isinstance(request, ChatRequest):
            return cls(body=request.body)
        return cls(body=request.body, _prompt_estimate=request.input.estimated_tokens())  # cheap: no messages


class TenantLayer(Layer):
    def __init__(self, inner: ChatHandler, services: TenantServices, groups: ModelGroups | None = None) -> None:
        super().__init__(inner)
        self.services = services
        self.groups = groups

    # -- admission ------------------------------------------------------------------------------

    def _scopes(self, request: Admitted, ctx: RequestContext) -> list[tuple[str, Quota]]:
        scopes = []
        principal = ctx.principal
        key_quota = Quota(principal.rpm, principal.tpm)
        if key_quota:
            scopes.append((f"key#{principal.key_id}", key_quota))
        model_limits = self.services.config.model_limits.get(request.model)
        if model_limits is not None and (model_quota := Quota(model_limits.rpm, model_limits.tpm)):
            scopes.append((f"model#{request.model}", model_quota))
        return scopes

    async def _check_budget(self, ctx: RequestContext) -> None:
        principal = ctx.principal
        if principal.budget_usd is None:
            return
        self.services.afterwards.flush()  # the usage records of requests already answered count
        spend = self.services.spend
        spent = await call_store(
            "spend store",
            spend.current_spend(principal.key_id, principal.budget_period, self.services.clock()),
            timeout=self.services.config.store_timeout,
            blocking=spend.table.blocking,
        )
        ctx.note("budget_spent_usd", round(spent, 6))
        if spent >= principal.budget_usd:
            raise InsufficientQuotaError(
                f"You exceeded your current quota: this key's {principal.budget_period} budget of "
                f"${principal.budget_usd:.2f} is used up (${spent:.4f} spent). Ask the gateway's operator "
                "to raise it, or wait for the next period."
            )

    async def _budget_outcome(self, budget: asyncio.Future[None], ticket: Ticket, ctx: RequestContext) -> None:
        if budget.cancelled():
            return
        try:
            await budget
        except ServiceUnavailableError:
            if self.services.config.limits_when_store_down == "refuse":
                raise
            ctx.note("budget", "store_unavailable")
        except GatewayError:  # over budget: give back the rate-limit slots just taken
            await asyncio.gather(*(self.services.limiter.refund(d) for d in ticket.decisions if d.admitted))
            raise

    async def _admit(self, request: Admitted, ctx: RequestContext) -> Ticket | None:
        if self.groups is not None and request.model not in self.groups:
            return None  # the router answers 404; nothing to count
        if not ctx.principal.may_use(request.model):
            raise PermissionDeniedError(
                f"Your key is not allowed to use the model '{request.model}'.", param="model", code="model_not_allowed"
            )
        jobs = self.services.jobs
        if jobs.pending >= jobs.max_pending and not await jobs.wait_for_room(min(ADMISSION_WAIT, ctx.remaining())):
            ctx.note("usage_backlog", jobs.pending)  # still full: the usage write below may be dropped
        ticket = Ticket.of(request)
        scopes = self._scopes(request, ctx)
        if not scopes and ctx.principal.budget_usd is None:
            return ticket  # nothing to check: no task, no store call
        limiter = self.services.limiter
        estimate = ticket.prompt_estimate + (
            completion_budget(request.body, self.services.config.default_max_tokens_estimate)
            if isinstance(request, ChatRequest)
            else 0  # an embedding generates nothing
        )
        budget = asyncio.ensure_future(self._check_budget(ctx))
        try:
            ticket.decisions = await limiter.admit_all(scopes, estimate) if scopes else []
        except ServiceUnavailableError:
            if self.services.config.limits_when_store_down == "refuse":
                budget.cancel()
                raise
            ctx.note("limits", "store_unavailable")  # let it through: availability over exact limits
        finally:
            await self._budget_outcome(budget, ticket, ctx)
        if ticket.decisions:
            shown = ticket.decisions[0]
            headers = ratelimit_headers(shown)
            for name, value in headers.items():
                ctx.set_header(name, value)
            refused = next((d for d in ticket.decisions if not d.admitted), None)
            if refused is not None:
                ctx.note("rate_limited", refused.scope.split("#", 1)[0])
                raise _rate_limit_error(refused, ratelimit_headers(refused) if refused is not shown else headers)
        return ticket

    # -- the call -------------------------------------------------------------------------------

    async def complete(self, request: ChatRequest, ctx: RequestContext) -> dict[str, Any]:
        ticket = await self._admit(request, ctx)
        if ticket is None:
            return await self.inner.complete(request, ctx)
        try:
            response = await self.inner.complete(request, ctx)
        except BaseException as exc:
            self._account(request, ctx, ticket, _failed_status(exc))
            raise
        ticket.usage = response.get("usage") if isinstance(response.get("usage"), dict) else None
        if self.services.config.telemetry.log_content:
            ticket.completion_text = [
                str((choice.get("message") or {}).get("content") or "") for choice in response.get("choices") or []
            ]
        self._account(request, ctx, ticket, "ok")
        return response

    async def open_stream(self, request: ChatRequest, ctx: RequestContext) -> OpenedStream:
        ticket = await self._admit(request, ctx)
        if ticket is None:
            return await self.inner.open_stream(request, ctx)
        try:
            opened = await self.inner.open_stream(request, ctx)
        except BaseException as exc:
            self._account(request, ctx, ticket, _failed_status(exc))
            raise

        def on_chunk(chunk: dict[str, Any]) -> None:
            usage = chunk.get("usage")
            if isinstance(usage, dict) and usage:
                ticket.usage = usage
            text = chunk_text(chunk)
            if text:
                ticket.completion_text.append(text)

        def on_end(outcome: StreamEnd, failure: BaseException | None) -> None:
            status = {"complete": "ok", "error": "error", "aborted": "aborted"}[outcome]
            self._account(request, ctx, ticket, status)

        return watch_stream(opened, on_chunk=on_chunk, on_end=on_end)

    async def embed(self, request: EmbeddingRequest, ctx: RequestContext) -> dict[str, Any]:
        ticket = await self._admit(request, ctx)
        if ticket is None:
            return await self.inner.embed(request, ctx)
        try:
            response = await self.inner.embed(request, ctx)
        except BaseException as exc:
            self._account(request, ctx, ticket, _failed_status(exc))
            raise
        ticket.usage = response.get("usage") if isinstance(response.get("usage"), dict) else None
        self._account(request, ctx, ticket, "ok")
        return response

    # -- accounting -----------------------------------------------------------------------------

    def _tokens(self, ticket: Ticket, status: str) -> tuple[Tokens, bool]:
        if ticket.usage:
            return Tokens.from_usage(ticket.usage), False
        if status == "error" and not ticket.completion_text:
            return Tokens(), False
        # a stream the client (or the upstream) cut before the usage chunk: bill what was produced
        completion = text_tokens("".join(ticket.completion_text))
        return Tokens(prompt=ticket.prompt_estimate, completion=completion), True

    def _account(self, request: Admitted, ctx: RequestContext, ticket: Ticket, status: str) -> None:
        """Queue the request's usage record (and its quota settlement) with the gateway's after-response
        work; its latency and timestamp are taken now."""
        ended, now = ctx.monotonic(), self.services.clock()
        self.services.afterwards.run(lambda: self._record(request, ctx, ticket, status, ended=ended, now=now))

    def _record(
        self, request: Admitted, ctx: RequestContext, ticket: Ticket, status: str, *, ended: float, now: float
    ) -> None:
        services = self.services
        tokens, estimated = self._tokens(ticket, status)
        cache_hit = ctx.notes.get("cache") == "hit"
        replayed = ctx.notes.get("idempotency") == "replayed"
        no_upstream = cache_hit or replayed  # answered from the cache or an idempotent replay: no upstream spend
        cost = 0.0 if no_upstream else services.prices.cost(ctx.deployment_id, ctx.model_group or request.model, tokens)
        latency_ms = round((ended - ctx.started) * 1000, 2)
        ttft = round((ctx.first_token_at - ctx.started) * 1000, 2) if ctx.first_token_at is not None else None
        ctx.note("cost_usd", cost if cost is not None else 0.0)
        if cost is None:
            ctx.note("price", "missing")
        ctx.note("total_tokens", tokens.total)
        ctx.note("cached_tokens", tokens.cached)
        if estimated:
            ctx.note("usage_estimated", True)
        ctx.note_default("cache", "off")
        # retries: upstream attempts beyond the first (fallback groups' included); fallbacks: 1 when a
        # fallback group gave the answer (the router's own "fallback" note says which and why)
        ctx.note_default("retries", max(0, ctx.attempts - 1))
        ctx.note_default("fallbacks", 1 if ctx.notes.get("fallback") else 0)
        if services.config.telemetry.log_content:  # the operator opted in; the prompt as sent (after guardrails)
            ctx.note("prompt", request.body.get("messages" if isinstance(request, ChatRequest) else "input"))
            ctx.note("answer", "".join(ticket.completion_text))
        parsed = request.parsed
        record = UsageRecord(
            request_id=ctx.request_id,
            key_id=ctx.principal.key_id,
            owner=ctx.principal.owner,
            model=ctx.model_group or request.model,
            deployment=ctx.deployment_id,
            prompt_tokens=tokens.prompt,
            completion_tokens=tokens.completion,
            cached_tokens=tokens.cached,
            cost_usd=cost or 0.0,
            priced=cost is not None,
            latency_ms=latency_ms,
            ttft_ms=ttft,
            timestamp=now,
            status=status,
            stream=request.stream,
            cache_hit=cache_hit,
            replayed=replayed,
            usage_estimated=estimated,
            user=parsed.user[:MAX_TEXT] if parsed.user else None,
            metadata=_bounded(parsed.metadata),
            key_metadata={str(k): str(v) for k, v in ctx.principal.metadata.items()},
        )
        # tokens served from the gateway's cache (or replayed) never reached an upstream: no quota used
        settled = 0 if no_upstream else tokens.total

        period = ctx.principal.budget_period
        spend, limiter = services.spend, services.limiter
        settling = [d for d in ticket.decisions if d.admitted and d.quota.tpm is not None]
        if not settling and not spend.table.blocking:  # in memory: microseconds, no task needed
            services.jobs.run_now("usage record", lambda: spend.record(record, budget_period=period))
            return

        async def write() -> None:
            for decision in settling:
                await limiter.settle_tokens(decision, settled)
            await spend.record(record, budget_period=period)

        if not services.jobs.submit("usage record", write):
            ctx.note("usage_dropped", True)


MAX_TEXT = 256
ADMISSION_WAIT = 10.0  # seconds a request waits for the usage writer to catch up before going ahead
MAX_METADATA = 16  # OpenAI's own limit on metadata pairs


def _failed_status(exc: BaseException) -> str:
    """A request that ended without an answer: ``aborted`` when it was cancelled (its client left, or the
    server is shutting down), else ``error``."""
    return "aborted" if isinstance(exc, asyncio.CancelledError) else "error"


def _bounded(metadata: dict[str, str] | None) -> dict[str, str]:
    """The request's metadata as stored: at most 16 pairs, keys and values cut to 256 characters, so a
    usage record always fits in one DynamoDB item."""
    pairs = list((metadata or {}).items())[:MAX_METADATA]
    return {str(k)[:MAX_TEXT]: str(v)[:MAX_TEXT] for k, v in pairs}


def _rate_limit_error(decision: Decision, headers: dict[str, str]) -> RateLimitError:
    kind, _, name = decision.scope.partition("#")
    what = "requests" if decision.exceeded == "requests" else "tokens"
    limit = decision.quota.rpm if what == "requests" else decision.quota.tpm
    used = decision.requests_used if what == "requests" else decision.tokens_used
    unit = "RPM" if what == "requests" else "TPM"
    owner = f"key {name}" if kind == "key" else f"model {name}"
    message = (
        f"Rate limit reached for {what} per min ({unit}) on {owner}: Limit {limit}, Used {int(used)}. "
        f"Please try again in {format_reset(decision.retry_after)}."
    )
    return RateLimitError(message, retry_after=decision.retry_after, headers=headers)


def tenant_layer(inner: ChatHandler, services: TenantServices, groups: ModelGroups) -> ChatHandler:
    return TenantLayer(inner, services, groups)
