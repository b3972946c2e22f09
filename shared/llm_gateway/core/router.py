"""Pick a deployment of the requested model group and make the provider call.

Balancing: weighted random among the group's deployments (``weight`` in the config).
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from typing import Any

from llm_gateway.core.context import RequestContext
from llm_gateway.core.deployments import ModelGroups
from llm_gateway.core.pipeline import ChatHandler, OpenedStream
from llm_gateway.errors import GatewayError, InvalidRequestError, UpstreamTimeoutError
from llm_gateway.providers.base import Deployment, ProviderCall
from llm_gateway.providers.registry import ProviderPool
from llm_gateway.schemas.validation import ChatRequest
from llm_gateway.secrets import SecretError, SecretResolver


class Router(ChatHandler):
    def __init__(
        self,
        groups: ModelGroups,
        providers: ProviderPool,
        secrets: SecretResolver,
        rng: random.Random | None = None,
    ) -> None:
        self.groups = groups
        self.providers = providers
        self.secrets = secrets
        self.rng = rng or random.Random()  # noqa: S311 - load balancing, not security

    def choose(self, candidates: list[Deployment]) -> Deployment:
        if len(candidates) == 1:
            return candidates[0]
        weights = [d.config.weight for d in candidates]
        return self.rng.choices(candidates, weights=weights, k=1)[0]

    async def build_call(self, deployment: Deployment, request: ChatRequest, ctx: RequestContext) -> ProviderCall:
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
        )

    def _candidates(self, request: ChatRequest, ctx: RequestContext) -> list[Deployment]:
        if not ctx.principal.may_use(request.model):
            raise InvalidRequestError(
                f"Your key is not allowed to use the model '{request.model}'.",
                param="model",
                code="model_not_allowed",
                status_code=403,
            )
        return self.groups.get(request.model)

    def _mark(self, ctx: RequestContext, deployment: Deployment) -> None:
        ctx.attempts += 1
        ctx.deployment_id = deployment.id
        ctx.model_group = deployment.group

    async def complete(self, request: ChatRequest, ctx: RequestContext) -> dict[str, Any]:
        deployment = self.choose(self._candidates(request, ctx))
        call = await self.build_call(deployment, request, ctx)
        self._mark(ctx, deployment)
        return await self.providers.get(deployment.provider).complete(call)

    async def open_stream(self, request: ChatRequest, ctx: RequestContext) -> OpenedStream:
        deployment = self.choose(self._candidates(request, ctx))
        call = await self.build_call(deployment, request, ctx)
        self._mark(ctx, deployment)
        chunks = self.providers.get(deployment.provider).stream(call)
        try:
            first = await anext(chunks)
        except StopAsyncIteration:
            from llm_gateway.errors import UpstreamConnectionError

            raise UpstreamConnectionError(
                f"The upstream for model '{deployment.group}' ended the stream without sending anything.",
                code="upstream_stream_cut",
            ) from None
        except BaseException:
            await _aclose(chunks)
            raise
        return OpenedStream(first=first, rest=chunks, deployment=deployment)


async def _aclose(iterator: AsyncIterator[Any]) -> None:
    close = getattr(iterator, "aclose", None)
    if close is not None:
        await close()
