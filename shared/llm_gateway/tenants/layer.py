"""The limits-and-spend layer: admit a request (model access, budget, the key's rate limits), then
account for it.

Before the call, at once: for a key with a budget, one conditional write that reserves the request's
worst-case cost (:mod:`.budgets`); for a key with rpm/tpm, one conditional counter write. Model groups'
and deployments' limits apply per attempt (:mod:`.model_limits`). After the answer (or the
stream's end, including a client that left mid-stream): the cost from the price table, the request's
figures in ``ctx.notes`` for the request log, and, queued in the ledger (:mod:`.ledger`), the usage
record, the running spend with the budget hold's settlement, and the token settlement of the
rate-limit window.

Embeddings go through the same admission and accounting: their estimate is the input's tokens (nothing
is generated), their cost the prompt tokens at the model's ``input`` price.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from llm_gateway.core.pipeline import ChatHandler, Layer, OpenedStream, StreamEnd, watch_stream
from llm_gateway.errors import GatewayError, PermissionDeniedError, RateLimitError, ServiceUnavailableError
from llm_gateway.schemas.validation import ChatRequest
from llm_gateway.scopes import key_limit_scope
from llm_gateway.tenants.budgets import BudgetExhausted, Hold, worst_case_cost
from llm_gateway.tenants.pricing import Tokens
from llm_gateway.tenants.ratelimit import Decision, Quota, rate_limit_message, ratelimit_headers
from llm_gateway.tenants.spend import UsageRecord
from llm_gateway.tenants.tokens import chunk_text, completion_budget, prompt_bound, prompt_tokens, text_tokens

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
    hold: Hold | None = None
    """The budget reservation, settled by the accounting."""
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


Reachable = Callable[["Admitted"], Iterable[str]]
"""The model groups a request may be answered by (the one asked for, its fallbacks, context-window
fallbacks): a budget reservation prices the request at the most expensive of them."""


class TenantLayer(Layer):
    def __init__(
        self,
        inner: ChatHandler,
        services: TenantServices,
        groups: ModelGroups | None = None,
        reachable: Reachable | None = None,
    ) -> None:
        super().__init__(inner)
        self.services = services
        self.groups = groups
        self.reachable = reachable

    # -- admission ------------------------------------------------------------------------------

    def _scopes(self, ctx: RequestContext) -> list[tuple[str, Quota]]:
        principal = ctx.principal
        key_quota = Quota(principal.rpm, principal.tpm)
        return [(key_limit_scope(principal.key_id), key_quota)] if key_quota else []

    def worst_case(self, request: Admitted) -> float:
        """The most ``request`` can cost: its prompt's upper bound and its completion cap
        (``max_completion_tokens``/``max_tokens``, else ``tenants.budgets``' ceiling for the model; an
        embedding generates nothing), at the highest prices among the deployments that may answer it."""
        settings = self.services.config.budgets
        names = list(self.reachable(request)) if self.reachable is not None else [request.model]
        prices, ceilings = [], []
        for name in names:
            deployments = self.groups.get(name) if self.groups is not None and name in self.groups else []
            for deployment in deployments:
                price = self.services.prices.price_for(deployment.id, name)
                if price is not None:
                    prices.append(price)
                ceilings.append(settings.completion_tokens.get(deployment.id))
            ceilings.append(settings.completion_tokens.get(name))
        if not isinstance(request, ChatRequest):
            return worst_case_cost(prices, request.input.token_bound(), 0)
        ceiling = max((c for c in ceilings if c is not None), default=settings.default_completion_tokens)
        completion = completion_budget(request.body, ceiling)
        return worst_case_cost(prices, prompt_bound(request.body), completion)

    async def _reserve(self, request: Admitted, ctx: RequestContext, ticket: Ticket) -> None:
        principal = ctx.principal
        if principal.budget_usd is None:
            return
        worst = self.worst_case(request)
        services = self.services
        try:
            ticket.hold = await services.budgets.reserve(
                principal.key_id, principal.budget_usd, principal.budget_period, worst, services.clock()
            )
        except BudgetExhausted as exhausted:
            ctx.note("budget_spent_usd", round(exhausted.committed, 6))
            raise InsufficientQuotaError(
                f"You exceeded your current quota: this key's {principal.budget_period} budget of "
                f"${principal.budget_usd:.2f} cannot cover this request (${exhausted.committed:.4f} spent or "
                f"held by requests in progress; this one may cost up to ${worst:.4f}). Ask the gateway's "
                "operator to raise it, lower max_tokens, or wait for the next period."
            ) from None
        ctx.note("budget_spent_usd", round(ticket.hold.committed, 6))

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

    def _release(self, ticket: Ticket) -> None:
        """A request refused after its budget hold was taken: give the hold back."""
        if ticket.hold is not None:
            self.services.budgets.settle(ticket.hold, 0.0)
            ticket.hold = None

    async def _admit(self, request: Admitted, ctx: RequestContext) -> Ticket | None:
        if self.groups is not None and request.model not in self.groups:
            return None  # the router answers 404; nothing to count
        if not ctx.principal.may_use(request.model):
            raise PermissionDeniedError(
                f"Your key is not allowed to use the model '{request.model}'.", param="model", code="model_not_allowed"
            )
        ledger = self.services.ledger
        if ledger.pending_records >= ledger.max_pending and not await ledger.wait_for_room(
            min(ADMISSION_WAIT, ctx.remaining())
        ):
            ctx.note("usage_backlog", ledger.pending_records)  # the table is behind: records stay queued
        ticket = Ticket.of(request)
        scopes = self._scopes(ctx)
        if not scopes and ctx.principal.budget_usd is None:
            return ticket  # nothing to check: no task, no store call
        limiter = self.services.limiter
        estimate = ticket.prompt_estimate + (
            completion_budget(request.body, self.services.config.default_max_tokens_estimate)
            if isinstance(request, ChatRequest)
            else 0  # an embedding generates nothing
        )
        budget = asyncio.ensure_future(self._reserve(request, ctx, ticket))
        try:
            ticket.decisions = await limiter.admit_all(scopes, estimate) if scopes else []
        except ServiceUnavailableError:
            if self.services.config.limits_when_store_down == "refuse":
                budget.cancel()
                await asyncio.gather(budget, return_exceptions=True)
                self._release(ticket)
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
                self._release(ticket)
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
            await self._end_of_request()
            raise
        ticket.usage = response.get("usage") if isinstance(response.get("usage"), dict) else None
        if self.services.config.telemetry.log_content:
            ticket.completion_text = [
                str((choice.get("message") or {}).get("content") or "") for choice in response.get("choices") or []
            ]
        self._account(request, ctx, ticket, "ok")
        await self._end_of_request()
        return response

    async def open_stream(self, request: ChatRequest, ctx: RequestContext) -> OpenedStream:
        ticket = await self._admit(request, ctx)
        if ticket is None:
            return await self.inner.open_stream(request, ctx)
        try:
            opened = await self.inner.open_stream(request, ctx)
        except BaseException as exc:
            self._account(request, ctx, ticket, _failed_status(exc))
            await self._end_of_request()
            raise

        def on_chunk(chunk: dict[str, Any]) -> None:
            usage = chunk.get("usage")
            if isinstance(usage, dict) and usage:
                ticket.usage = usage
            text = chunk_text(chunk)
            if text:
                ticket.completion_text.append(text)

        async def on_end(outcome: StreamEnd, failure: BaseException | None) -> None:
            status = {"complete": "ok", "error": "error", "aborted": "aborted"}[outcome]
            self._account(request, ctx, ticket, status)
            await self._end_of_request()  # before the stream's last bytes, where Lambda may freeze after them

        return watch_stream(opened, on_chunk=on_chunk, on_end=on_end)

    async def embed(self, request: EmbeddingRequest, ctx: RequestContext) -> dict[str, Any]:
        ticket = await self._admit(request, ctx)
        if ticket is None:
            return await self.inner.embed(request, ctx)
        try:
            response = await self.inner.embed(request, ctx)
        except BaseException as exc:
            self._account(request, ctx, ticket, _failed_status(exc))
            await self._end_of_request()
            raise
        ticket.usage = response.get("usage") if isinstance(response.get("usage"), dict) else None
        self._account(request, ctx, ticket, "ok")
        await self._end_of_request()
        return response

    # -- accounting -----------------------------------------------------------------------------

    async def _end_of_request(self) -> None:
        """Where the process may be frozen once the answer is sent (Lambda on demand): write this request's
        entries now, bounded by ``tenants.usage.flush_timeout``."""
        ledger = self.services.ledger
        if ledger.per_request:
            self.services.afterwards.flush()
            await ledger.end_of_request()

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
        for decision in ticket.decisions:
            if decision.admitted and decision.quota.tpm is not None:
                services.limiter.settle_tokens(decision, settled)
        hold, ticket.hold = ticket.hold, None
        settle = None if hold is None else lambda sums: services.budgets.settle(hold, record.cost_usd, sums)
        services.spend.note(record, budget_period=ctx.principal.budget_period, settle=settle)


MAX_TEXT = 256
ADMISSION_WAIT = 10.0  # seconds a request waits for the ledger to catch up before going ahead
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
    name = decision.scope.partition("#")[2]
    return RateLimitError(
        rate_limit_message(decision, f"key {name}"), retry_after=decision.retry_after, headers=headers
    )


def tenant_layer(
    inner: ChatHandler, services: TenantServices, groups: ModelGroups, reachable: Reachable | None = None
) -> ChatHandler:
    return TenantLayer(inner, services, groups, reachable)
