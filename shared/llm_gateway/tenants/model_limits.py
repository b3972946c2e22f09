"""Per-deployment rpm/tpm from ``tenants.model_limits`` (entries named by a deployment id): an attempt layer.

Each attempt is admitted against its deployment's window before the provider is called. A deployment
over its limit answers like an upstream that said 429 (a retryable ``UpstreamStatusError``), so routing
can try another deployment of the group; the client sees a 429 only when none is left. After the call,
the token estimate is replaced by the real usage, in the background.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from llm_gateway.config import ConfigError
from llm_gateway.core.attempts import AttemptHandler, AttemptLayer
from llm_gateway.errors import UpstreamStatusError
from llm_gateway.providers.base import Deployment, ProviderCall
from llm_gateway.tenants.pricing import Tokens
from llm_gateway.tenants.ratelimit import Decision, Quota, format_reset
from llm_gateway.tenants.services import TenantServices
from llm_gateway.tenants.tokens import request_estimate


class DeploymentLimits(AttemptLayer):
    def __init__(self, inner: AttemptHandler, services: TenantServices, quotas: dict[str, Quota]) -> None:
        super().__init__(inner)
        self.services = services
        self.quotas = quotas

    async def complete(self, call: ProviderCall) -> dict[str, Any]:
        decision = await self.admit(call)
        if decision is None:
            return await self.inner.complete(call)
        usage: dict[str, Any] | None = None
        try:
            response = await self.inner.complete(call)
            usage = response.get("usage") if isinstance(response.get("usage"), dict) else None
            return response
        finally:
            self.settle(decision, usage)

    async def stream(self, call: ProviderCall) -> AsyncIterator[dict[str, Any]]:
        decision = await self.admit(call)
        if decision is None:
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
            self.settle(decision, usage)

    async def admit(self, call: ProviderCall) -> Decision | None:
        quota = self.quotas.get(call.deployment.id)
        if quota is None:
            return None
        estimate = request_estimate(call.body, self.services.config.default_max_tokens_estimate)
        decision = await self.services.limiter.admit(f"deployment#{call.deployment.id}", quota, estimate)
        if not decision.admitted:
            what = decision.exceeded or "requests"
            raise UpstreamStatusError(
                f"The deployment '{call.deployment.id}' is over its configured {what} per minute; "
                f"try again in {format_reset(decision.retry_after)}.",
                upstream_status=429,
                status_code=429,
                error_type="rate_limit_error",
                code="rate_limit_exceeded",
                retry_after=decision.retry_after,
            )
        return decision

    def settle(self, decision: Decision, usage: dict[str, Any] | None) -> None:
        if decision.quota.tpm is None:
            return
        tokens = Tokens.from_usage(usage).total if usage else decision.tokens_counted
        limiter = self.services.limiter

        async def job() -> None:
            await limiter.settle_tokens(decision, tokens)

        self.services.jobs.submit("deployment token settlement", job)


def deployment_limits_layer(
    inner: AttemptHandler, services: TenantServices, deployments: list[Deployment]
) -> AttemptHandler | None:
    """The layer, when ``tenants.model_limits`` limits a deployment (``None`` otherwise). A name there that is
    neither a model group nor a deployment id stops start-up."""
    limits = services.config.model_limits
    ids = {d.id for d in deployments}
    unknown = sorted(set(limits) - ids - {d.group for d in deployments})
    if unknown:
        raise ConfigError(
            f"tenants.model_limits names {unknown[0]!r}, which is neither a model group nor a deployment id"
        )
    quotas = {name: Quota(limit.rpm, limit.tpm) for name, limit in limits.items() if name in ids}
    quotas = {name: quota for name, quota in quotas.items() if quota}
    return DeploymentLimits(inner, services, quotas) if quotas else None
