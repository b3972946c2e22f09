"""Which model groups a request may use, in order: the one asked for, then its fallbacks.

``fallbacks`` come from the request, else from ``router.fallbacks`` for the requested group.
``context_window_fallback_dict`` (request) is laid over ``router.context_window_fallbacks`` (config).
Every group named must exist and be allowed for the caller; a bad name is the client's 400/403.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from llm_gateway.core.context import RequestContext
from llm_gateway.core.deployments import ModelGroups
from llm_gateway.core.tokens import estimate_prompt_tokens
from llm_gateway.errors import InvalidRequestError
from llm_gateway.routing.config import RouterConfig
from llm_gateway.schemas.validation import ChatRequest


@dataclass
class RoutePlan:
    requested: str
    fallbacks: list[str]
    context_window_map: dict[str, str] = field(default_factory=dict)
    num_retries: int = 0
    prompt_tokens: int = 0


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


def make_plan(request: ChatRequest, ctx: RequestContext, groups: ModelGroups, config: RouterConfig) -> RoutePlan:
    parsed = request.parsed
    requested = request.model
    if not ctx.principal.may_use(requested):
        raise InvalidRequestError(
            f"Your key is not allowed to use the model '{requested}'.",
            param="model",
            code="model_not_allowed",
            status_code=403,
        )
    groups.get(requested)  # 404 for an unknown model
    if parsed.fallbacks is not None:
        for index, name in enumerate(parsed.fallbacks):
            _check_group(name, groups, ctx, f"fallbacks[{index}]")
        chain = list(parsed.fallbacks)
    else:
        chain = [name for name in config.fallbacks.get(requested, []) if ctx.principal.may_use(name)]
    fallbacks = [name for name in dict.fromkeys(chain) if name != requested]
    window_map = {k: v for k, v in config.context_window_fallbacks.items() if ctx.principal.may_use(v)}
    for source, target in (parsed.context_window_fallback_dict or {}).items():
        _check_group(target, groups, ctx, f"context_window_fallback_dict.{source}")
        window_map[source] = target
    num_retries = parsed.num_retries if parsed.num_retries is not None else config.num_retries
    return RoutePlan(
        requested=requested,
        fallbacks=fallbacks,
        context_window_map=window_map,
        num_retries=num_retries,
        prompt_tokens=estimate_prompt_tokens(request.body) if window_map else 0,
    )
