"""Which model groups a request may use, in order: the one asked for, then its fallbacks.

``fallbacks`` come from the request, else from ``router.fallbacks`` for the requested group.
``context_window_fallback_dict`` (request) is laid over ``router.context_window_fallbacks`` (config).
Every group named must exist and be allowed for the caller; a bad name is the client's 400/403.
An embeddings request routes only among deployments that serve embeddings: a fallback group named in
the request must serve them (else a 400), one from config that does not is skipped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from llm_gateway.config import Endpoint
from llm_gateway.core.context import RequestContext
from llm_gateway.core.deployments import ModelGroups
from llm_gateway.core.tokens import estimate_prompt_tokens
from llm_gateway.errors import InvalidRequestError
from llm_gateway.routing.config import RouterConfig
from llm_gateway.schemas.validation import ChatRequest

if TYPE_CHECKING:
    from llm_gateway.schemas.embeddings import EmbeddingRequest


@dataclass
class RoutePlan:
    requested: str
    fallbacks: list[str]
    context_window_map: dict[str, str] = field(default_factory=dict)
    num_retries: int = 0
    prompt_tokens: int = 0
    endpoint: Endpoint | None = None
    """Route only among deployments serving this API (``None``: every deployment of the group, as chat)."""


def _check_group(name: str, groups: ModelGroups, ctx: RequestContext, param: str) -> None:
    if name not in groups:
        raise InvalidRequestError(
            f"Invalid '{param}': the model '{name}' does not exist.", param=param, code="model_not_found"
        )
    if not ctx.principal.may_use(name):
        raise InvalidRequestError(
            f"Invalid '{param}': your key is not allowed to use the model '{name}'.",
            param=param,
            code="model_not_allowed",
            status_code=403,
        )


def _check_serves(name: str, groups: ModelGroups, endpoint: Endpoint, param: str) -> None:
    if endpoint not in groups.endpoints(name):
        raise InvalidRequestError(
            f"Invalid '{param}': the model '{name}' does not serve {endpoint}.", param=param, code="model_not_supported"
        )


def _fallbacks(
    requested: str,
    given: list[str] | None,
    ctx: RequestContext,
    groups: ModelGroups,
    config: RouterConfig,
    *,
    endpoint: Endpoint | None,
) -> list[str]:
    """The groups to fall back on, after checking the requested one (403 not allowed, 404 unknown)."""
    if not ctx.principal.may_use(requested):
        raise InvalidRequestError(
            f"Your key is not allowed to use the model '{requested}'.",
            param="model",
            code="model_not_allowed",
            status_code=403,
        )
    groups.get(requested)  # 404 for an unknown model
    if endpoint is not None:
        _check_serves(requested, groups, endpoint, "model")
    if given is not None:
        for index, name in enumerate(given):
            _check_group(name, groups, ctx, f"fallbacks[{index}]")
            if endpoint is not None:
                _check_serves(name, groups, endpoint, f"fallbacks[{index}]")
        chain = list(given)
    else:
        chain = [
            name
            for name in config.fallbacks.get(requested, [])
            if ctx.principal.may_use(name) and (endpoint is None or endpoint in groups.endpoints(name))
        ]
    return [name for name in dict.fromkeys(chain) if name != requested]


def make_plan(
    request: ChatRequest | EmbeddingRequest, ctx: RequestContext, groups: ModelGroups, config: RouterConfig
) -> RoutePlan:
    parsed, requested = request.parsed, request.model
    num_retries = parsed.num_retries if parsed.num_retries is not None else config.num_retries
    if not isinstance(request, ChatRequest):
        # among groups serving embeddings; no context-window switch (an embedding model's limit is per input)
        fallbacks = _fallbacks(requested, parsed.fallbacks, ctx, groups, config, endpoint="embeddings")
        return RoutePlan(requested=requested, fallbacks=fallbacks, num_retries=num_retries, endpoint="embeddings")
    # a bridged request (/v1/responses, /v1/messages) routes among the deployments serving its endpoint
    endpoint: Endpoint | None = request.native.endpoint if request.native is not None else None
    fallbacks = _fallbacks(requested, request.parsed.fallbacks, ctx, groups, config, endpoint=endpoint)
    window_map = {k: v for k, v in config.context_window_fallbacks.items() if ctx.principal.may_use(v)}
    for source, target in (request.parsed.context_window_fallback_dict or {}).items():
        _check_group(target, groups, ctx, f"context_window_fallback_dict.{source}")
        window_map[source] = target
    return RoutePlan(
        requested=requested,
        fallbacks=fallbacks,
        context_window_map=window_map,
        num_retries=num_retries,
        prompt_tokens=estimate_prompt_tokens(request.body) if window_map else 0,
        endpoint=endpoint,
    )
