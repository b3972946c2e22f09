"""The router: the innermost :class:`ChatHandler`. Picks a healthy deployment, calls its provider, and
retries, falls back or switches to a larger context window when that can still help.

Order of events for one request (see the README's "Reliable routing" section):

1. Plan: the requested group, then its fallbacks (request, else config); the context-window map.
2. If the group's context window is known and the prompt clearly exceeds it, go straight to the mapped
   group.
3. Within a group, up to ``num_retries + 1`` attempts. Each picks among healthy deployments (not cooling
   down), preferring ones that have not failed in this request; before a retry it waits (full-jitter
   backoff, or the upstream's ``Retry-After`` when retrying the same deployment). Retryable failures:
   408/429/5xx/529, connection errors, timeouts. Anything else goes straight back to the client.
4. A context-length error switches once to the mapped group. A group whose retries ran out on retryable
   failures hands over to the next fallback group, and so does a group over its configured limits
   (``GroupLimitError``, from the model-limits attempt layer), at once. When nothing is left, the client gets the last
   upstream error (with ``x-llm-gateway-attempts``).

Nothing waits past the request's deadline: an attempt gets only the time left, and a backoff that would
not leave time for another attempt is not slept. Streams are retried only until their first chunk: once
:meth:`open_stream` has returned, the answer is committed.

Embeddings (:meth:`embed`) are routed the same way, among the deployments that serve them.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from llm_gateway.core.attempts import AttemptHandler
from llm_gateway.core.context import RequestContext
from llm_gateway.core.deployments import ModelGroups
from llm_gateway.core.pipeline import ChatHandler, OpenedStream, StreamEnd, watch_stream
from llm_gateway.errors import (
    GatewayError,
    GroupLimitError,
    ServiceUnavailableError,
    UpstreamConnectionError,
    UpstreamTimeoutError,
)
from llm_gateway.providers.base import Deployment, ProviderCall
from llm_gateway.routing import balancer
from llm_gateway.routing.config import RouterConfig
from llm_gateway.routing.health import HealthTracker
from llm_gateway.routing.metrics import note_all_cooling, note_upstream_failure
from llm_gateway.routing.plan import RoutePlan, make_plan
from llm_gateway.routing.retry import Backoff, counts_against_deployment, is_context_length_error, is_retryable
from llm_gateway.schemas.validation import ChatRequest
from llm_gateway.secrets import SecretError, SecretResolver

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]
AttemptFn = Callable[[Deployment, ProviderCall], Awaitable[T]]

if TYPE_CHECKING:
    from llm_gateway.schemas.embeddings import EmbeddingRequest

    Routed = ChatRequest | EmbeddingRequest

MIN_ATTEMPT_SECONDS = 0.05
"""A retry needs at least this much time left after its backoff, or it is not started."""

FALLBACK_HEADER = "x-llm-gateway-fallback"
REQUESTED_HEADER = "x-llm-gateway-requested-model"


class _GroupExhausted(Exception):
    """Every attempt the group allowed failed retryably; ``error`` is what the last one got."""

    def __init__(self, error: GatewayError) -> None:
        super().__init__(error.message)
        self.error = error


class Router(ChatHandler):
    def __init__(
        self,
        groups: ModelGroups,
        attempts: AttemptHandler,
        secrets: SecretResolver,
        rng: random.Random | None = None,
        *,
        config: RouterConfig | None = None,
        health: HealthTracker | None = None,
        sleep: Sleep = asyncio.sleep,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.groups = groups
        self.attempts = attempts
        self.secrets = secrets
        self.rng = rng or random.Random()  # noqa: S311 - load balancing and jitter, not security
        self.config = config or RouterConfig()
        self.health = health or HealthTracker(self.config, None, clock=clock, monotonic=monotonic)
        self.sleep = sleep
        self.clock = clock
        self.monotonic = monotonic
        self.backoff = Backoff(self.config.backoff_base, self.config.backoff_cap, self.config.max_retry_after)

    # -- ChatHandler ---------------------------------------------------------------------------------

    async def complete(self, request: ChatRequest, ctx: RequestContext) -> dict[str, Any]:
        return await self._route(request, ctx, self._complete_once)

    async def open_stream(self, request: ChatRequest, ctx: RequestContext) -> OpenedStream:
        opened = await self._route(request, ctx, self._open_once)
        deployment = opened.deployment

        async def on_end(outcome: StreamEnd, failure: BaseException | None) -> None:
            failed = outcome == "error" and isinstance(failure, GatewayError) and counts_against_deployment(failure)
            if failed and deployment is not None and isinstance(failure, GatewayError):
                await self.health.failure(deployment, failure)

        return watch_stream(opened, on_end=on_end)

    async def embed(self, request: EmbeddingRequest, ctx: RequestContext) -> dict[str, Any]:
        return await self._route(request, ctx, self._embed_once)

    # -- one attempt -----------------------------------------------------------------------------------

    async def build_call(self, deployment: Deployment, request: Routed, ctx: RequestContext) -> ProviderCall:
        remaining = ctx.remaining()
        if remaining <= 0:
            raise UpstreamTimeoutError("The request ran out of time before an upstream answered.")
        try:
            api_key = await self.secrets.resolve(deployment.config.api_key)
        except SecretError as exc:
            raise GatewayError(
                f"The gateway cannot load the credentials for model '{deployment.group}': {exc}",
                code="upstream_credentials_unavailable",
                status_code=500,
            ) from None
        body = request.upstream_body()
        body["model"] = deployment.model
        return ProviderCall(
            deployment=deployment,
            request=request,
            body=body,
            api_key=api_key,
            timeout=remaining,
            want_usage=True,
            request_id=ctx.request_id,
            caller=ctx.principal.key_id,
            response_headers=ctx.response_headers,
        )

    async def _complete_once(self, deployment: Deployment, call: ProviderCall) -> dict[str, Any]:
        return await self.attempts.complete(call)

    async def _embed_once(self, deployment: Deployment, call: ProviderCall) -> dict[str, Any]:
        return await self.attempts.embed(call)

    async def _open_once(self, deployment: Deployment, call: ProviderCall) -> OpenedStream:
        chunks = self.attempts.stream(call)
        try:
            first = await anext(chunks)
        except StopAsyncIteration:
            raise UpstreamConnectionError(
                f"The upstream for model '{deployment.group}' ended the stream without sending anything.",
                code="upstream_stream_cut",
            ) from None
        except BaseException:
            await _aclose(chunks)
            raise
        return OpenedStream(first=first, rest=chunks, deployment=deployment)

    async def _attempt(self, deployment: Deployment, request: Routed, ctx: RequestContext, attempt: AttemptFn[T]) -> T:
        call = await self.build_call(deployment, request, ctx)
        ctx.attempts += 1
        ctx.deployment_id = deployment.id
        ctx.model_group = deployment.group
        started = self.monotonic()
        try:
            async with asyncio.timeout(call.timeout):
                result = await attempt(deployment, call)
        except TimeoutError:
            # The request's own deadline, not the deployment's fault: noted, not counted against it.
            _note(ctx, deployment, "deadline")
            raise UpstreamTimeoutError("The request reached its deadline before the upstream answered.") from None
        except UpstreamTimeoutError as exc:
            # httpx's timeouts are capped by the time left too: when the deadline is what ran out, the
            # deployment did not get a fair chance, and its record is left alone.
            if ctx.remaining() > MIN_ATTEMPT_SECONDS:
                await self._failed(deployment, exc, ctx)
            else:
                _note(ctx, deployment, "deadline")
            raise
        except GatewayError as exc:
            await self._failed(deployment, exc, ctx)
            raise
        await self.health.success(deployment, self.monotonic() - started)
        _note(ctx, deployment, "ok")
        return result

    async def _failed(self, deployment: Deployment, error: GatewayError, ctx: RequestContext) -> None:
        _note(ctx, deployment, error.code or str(error.status_code))
        if counts_against_deployment(error):
            health = await self.health.failure(deployment, error)
            note_upstream_failure(ctx, cooling=health.cooling(self.clock()))

    # -- one group -------------------------------------------------------------------------------------

    async def _try_group(
        self,
        group: str,
        request: Routed,
        ctx: RequestContext,
        plan: RoutePlan,
        attempt: AttemptFn[T],
        *,
        has_fallback: bool,
    ) -> T:
        deployments = self.groups.get(group) if plan.endpoint is None else self.groups.serving(group, plan.endpoint)
        failed: set[str] = set()
        last: tuple[Deployment, GatewayError] | None = None
        limit = plan.num_retries + 1
        attempt_index = -1
        while attempt_index + 1 < limit:
            attempt_index += 1
            view = await self.health.view(group)
            now = self.clock()
            cooling = {d.id: view[d.id].cooldown_until for d in deployments if d.id in view and view[d.id].cooling(now)}
            healthy = [d for d in deployments if d.id not in cooling]
            if last is None:
                if not healthy:
                    note_all_cooling(ctx, group)
                    if not self._try_soonest(has_fallback):
                        raise _GroupExhausted(_all_cooling(group, min(cooling.values()) - now))
                    healthy, limit = [min(deployments, key=lambda d: cooling[d.id])], 1
                choice = self._pick(healthy)
            else:
                choice_delay = self._next_choice(
                    healthy=healthy, failed=failed, cooling=cooling, last=last, retry_index=attempt_index - 1, now=now
                )
                if choice_delay is None:
                    break
                choice, delay = choice_delay
                if delay > 0:
                    if delay + MIN_ATTEMPT_SECONDS >= ctx.remaining():
                        break
                    ctx.note("backoff_s", round(ctx.notes.get("backoff_s", 0.0) + delay, 3))
                    await self.sleep(delay)
            if ctx.remaining() <= 0:
                break
            try:
                return await self._attempt(choice, request, ctx, attempt)
            except GroupLimitError as exc:
                raise _GroupExhausted(exc) from None  # the whole group is over its limit: next fallback
            except GatewayError as exc:
                if not is_retryable(exc):
                    raise
                failed.add(choice.id)
                last = (choice, exc)
        if last is None:
            raise UpstreamTimeoutError("The request ran out of time before an upstream answered.")
        raise _GroupExhausted(last[1])

    def _try_soonest(self, has_fallback: bool) -> bool:
        """When a whole group is cooling down: one attempt on its soonest-back deployment, or fail fast."""
        mode = self.config.when_all_cooling
        return mode == "try_soonest" or (mode == "auto" and not has_fallback)

    def _next_choice(
        self,
        *,
        healthy: list[Deployment],
        failed: set[str],
        cooling: dict[str, float],
        last: tuple[Deployment, GatewayError],
        retry_index: int,
        now: float,
    ) -> tuple[Deployment, float] | None:
        """The deployment for a retry and how long to wait first; ``None`` when the group is done."""
        last_deployment, last_error = last
        fresh = [d for d in healthy if d.id not in failed]
        if fresh:
            return self._pick(fresh), self.backoff.jitter(retry_index, self.rng)
        if healthy:
            choice = self._pick(healthy)
            same = choice.id == last_deployment.id
            delay = self.backoff.delay(retry_index, self.rng, retry_after=last_error.retry_after, same_deployment=same)
            return None if delay is None else (choice, delay)
        if last_error.retry_after is not None and last_deployment.id in cooling:
            # Only the deployment that asked us to wait is left: honour its Retry-After, if short enough.
            wait = max(last_error.retry_after, cooling[last_deployment.id] - now)
            if wait > self.config.max_retry_after:
                return None
            return last_deployment, wait
        return None

    def _pick(self, candidates: list[Deployment]) -> Deployment:
        return balancer.pick(candidates, self.rng, strategy=self.config.strategy, latency=self.health.latency)

    # -- the whole request -------------------------------------------------------------------------------

    def _window_target(self, group: str, plan: RoutePlan) -> str | None:
        """The mapped group when this group's context window is known and clearly too small."""
        target = plan.context_window_map.get(group)
        if target is None or target == group:
            return None
        window = self.context_window(group)
        if window is not None and plan.prompt_tokens > window * self.config.context_window_margin:
            return target
        return None

    def context_window(self, group: str) -> int | None:
        configured = self.config.context_windows.get(group)
        if configured is not None:
            return configured
        windows = [d.config.extra_fields.get("context_window") for d in self.groups.get(group)]
        known = [w for w in windows if isinstance(w, int) and not isinstance(w, bool) and w > 0]
        return min(known) if known else None

    async def _route(self, request: Routed, ctx: RequestContext, attempt: AttemptFn[T]) -> T:
        plan = make_plan(request, ctx, self.groups, self.config)
        queue = deque(plan.fallbacks)
        group = plan.requested
        reason: str | None = None
        window_switched = False
        while True:
            if not window_switched:
                target = self._window_target(group, plan)
                if target is not None:
                    ctx.note("context_window_precheck", f"{group}->{target}")
                    group, reason, window_switched = target, "context_window", True
            try:
                result = await self._try_group(group, request, ctx, plan, attempt, has_fallback=bool(queue))
            except _GroupExhausted as exhausted:
                if not queue:
                    raise _with_attempts(exhausted.error, ctx) from None
                group, reason = queue.popleft(), "fallback"
                continue
            except GatewayError as exc:
                target = plan.context_window_map.get(group)
                if is_context_length_error(exc) and not window_switched and target and target != group:
                    group, reason, window_switched = target, "context_window", True
                    continue
                raise _with_attempts(exc, ctx) from None
            if group != plan.requested and reason is not None:
                ctx.set_header(FALLBACK_HEADER, reason)
                ctx.set_header(REQUESTED_HEADER, plan.requested)
                ctx.note("fallback", f"{reason}:{plan.requested}->{group}")
            return result


def _all_cooling(group: str, wait: float) -> ServiceUnavailableError:
    return ServiceUnavailableError(
        f"Every deployment of model '{group}' is cooling down after upstream failures. Retry after "
        f"{max(1, round(wait))}s.",
        code="deployments_cooling_down",
        retry_after=max(wait, 0.0),
    )


def _with_attempts(error: GatewayError, ctx: RequestContext) -> GatewayError:
    error.headers["x-llm-gateway-attempts"] = str(ctx.attempts)
    if ctx.model_group:
        error.headers["x-llm-gateway-model-group"] = ctx.model_group
    if ctx.deployment_id:
        error.headers["x-llm-gateway-deployment"] = ctx.deployment_id
    return error


def _note(ctx: RequestContext, deployment: Deployment, outcome: str) -> None:
    ctx.note_default("route", []).append(f"{deployment.id}={outcome}")


async def _aclose(iterator: AsyncIterator[Any]) -> None:
    close = getattr(iterator, "aclose", None)
    if close is not None:
        await close()
