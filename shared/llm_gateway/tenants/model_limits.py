"""Limits from ``tenants.model_limits`` (rpm/tpm, named by a model group or a deployment id): an attempt
layer, so they hold for every attempt that lands on a group or deployment, whichever group the client
asked for (fallbacks and context-window fallbacks included). Each attempt is counted once.

Before the provider is called, the attempt is admitted against its deployment's window and its group's,
at once (both, or neither: one refused gives the other its slot back).

- A deployment over its limit answers like an upstream that said 429 (a retryable
  ``UpstreamStatusError``), so routing can try another deployment of the group.
- A group over its limit raises ``GroupLimitError``: routing skips the group and moves on to the next
  fallback, as if every deployment of it had answered 429. With none left the client gets the 429, with
  ``Retry-After`` and the group's ``x-ratelimit-*`` headers.

An attempt that is admitted sets the group's ``x-ratelimit-*`` headers unless the key's own are there.
After the call, the token estimate is replaced by the real usage, through the ledger. An embeddings call
is estimated at its input's tokens.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from llm_gateway.config import ConfigError
from llm_gateway.core.attempts import AttemptHandler, AttemptLayer
from llm_gateway.errors import GroupLimitError, UpstreamStatusError
from llm_gateway.providers.base import Deployment, ProviderCall
from llm_gateway.scopes import deployment_scope, group_scope
from llm_gateway.tenants.pricing import Tokens
from llm_gateway.tenants.ratelimit import Decision, Quota, format_reset, rate_limit_message, ratelimit_headers
from llm_gateway.tenants.services import TenantServices
from llm_gateway.tenants.tokens import request_estimate


class ModelLimits(AttemptLayer):
    def __init__(
        self,
        inner: AttemptHandler,
        services: TenantServices,
        deployment_quotas: dict[str, Quota],
        group_quotas: dict[str, Quota],
    ) -> None:
        super().__init__(inner)
        self.services = services
        self.deployment_quotas = deployment_quotas
        self.group_quotas = group_quotas

    async def complete(self, call: ProviderCall) -> dict[str, Any]:
        decisions = await self.admit(call)
        if not decisions:
            return await self.inner.complete(call)
        usage: dict[str, Any] | None = None
        try:
            response = await self.inner.complete(call)
            usage = response.get("usage") if isinstance(response.get("usage"), dict) else None
            return response
        finally:
            self.settle(decisions, usage)

    async def stream(self, call: ProviderCall) -> AsyncIterator[dict[str, Any]]:
        decisions = await self.admit(call)
        if not decisions:
            async for chunk in self.inner.stream(call):
                yield chunk
            return
        usage: dict[str, Any] | None = None
        try:
            async for chunk in self.inner.stream(call):
                if isinstance(chunk.get("usage"), dict):
                    usage = chunk["usage"]
                yield chunk
        finally:
            self.settle(decisions, usage)

    async def embed(self, call: ProviderCall) -> dict[str, Any]:
        decisions = await self.admit(call, estimate=call.embedding.input.estimated_tokens())
        if not decisions:
            return await self.inner.embed(call)
        usage: dict[str, Any] | None = None
        try:
            response = await self.inner.embed(call)
            usage = response.get("usage") if isinstance(response.get("usage"), dict) else None
            return response
        finally:
            self.settle(decisions, usage)

    def _scopes(self, deployment: Deployment) -> list[tuple[str, Quota]]:
        scopes = []
        quota = self.deployment_quotas.get(deployment.id)
        if quota is not None:
            scopes.append((deployment_scope(deployment.id), quota))
        quota = self.group_quotas.get(deployment.group)
        if quota is not None:
            scopes.append((group_scope(deployment.group), quota))
        return scopes

    async def admit(self, call: ProviderCall, *, estimate: int | None = None) -> list[Decision]:
        """The decisions of this attempt's limited scopes (``[]``: none is limited); ``estimate``: its tokens,
        by default the chat body's prompt and completion budget."""
        scopes = self._scopes(call.deployment)
        if not scopes:
            return []
        if estimate is None:
            estimate = request_estimate(call.body, self.services.config.default_max_tokens_estimate)
        decisions = await self.services.limiter.admit_all(scopes, estimate)
        refused = next((d for d in decisions if not d.admitted), None)
        if refused is None:
            group = next((d for d in decisions if d.scope == group_scope(call.deployment.group)), None)
            keys_own = {"x-ratelimit-limit-requests", "x-ratelimit-limit-tokens"} & call.response_headers.keys()
            if group is not None and not keys_own:
                call.response_headers.update(ratelimit_headers(group))
            return decisions
        what = refused.exceeded or "requests"
        if refused.scope == group_scope(call.deployment.group):
            raise GroupLimitError(
                rate_limit_message(refused, f"model {call.deployment.group}"),
                retry_after=refused.retry_after,
                headers=ratelimit_headers(refused),
            )
        raise UpstreamStatusError(
            f"The deployment '{call.deployment.id}' is over its configured {what} per minute; "
            f"try again in {format_reset(refused.retry_after)}.",
            upstream_status=429,
            status_code=429,
            error_type="rate_limit_error",
            code="rate_limit_exceeded",
            retry_after=refused.retry_after,
        )

    def settle(self, decisions: list[Decision], usage: dict[str, Any] | None) -> None:
        for decision in decisions:
            if decision.quota.tpm is not None:
                tokens = Tokens.from_usage(usage).total if usage else decision.tokens_counted
                self.services.limiter.settle_tokens(decision, tokens)


def model_limits_layer(
    inner: AttemptHandler, services: TenantServices, deployments: list[Deployment]
) -> AttemptHandler | None:
    """The layer, when ``tenants.model_limits`` limits a group or a deployment (``None`` otherwise). A name
    there that is neither a model group nor a deployment id stops start-up."""
    limits = services.config.model_limits
    ids = {d.id for d in deployments}
    group_names = {d.group for d in deployments}
    unknown = sorted(set(limits) - ids - group_names)
    if unknown:
        raise ConfigError(
            f"tenants.model_limits names {unknown[0]!r}, which is neither a model group nor a deployment id"
        )
    quotas = {name: Quota(limit.rpm, limit.tpm) for name, limit in limits.items()}
    deployment_quotas = {name: q for name, q in quotas.items() if name in ids and q}
    group_quotas = {name: q for name, q in quotas.items() if name in group_names and q}
    if not deployment_quotas and not group_quotas:
        return None
    return ModelLimits(inner, services, deployment_quotas, group_quotas)
