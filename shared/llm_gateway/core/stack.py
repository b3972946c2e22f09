"""Assemble the pipeline: each feature contributes a layer factory; ``None`` means "off by config".

Factories are listed innermost first. Adding a feature: write its layer in its own package and add its
factory here; nothing else in the pipeline changes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from llm_gateway.cache import cache_layer
from llm_gateway.core.pipeline import ChatHandler
from llm_gateway.guardrails.layer import guardrail_layer
from llm_gateway.idempotency.layer import idempotency_layer
from llm_gateway.tenants.layer import tenant_layer

if TYPE_CHECKING:
    from llm_gateway.gateway import Gateway

LayerFactory = Callable[["Gateway", ChatHandler], ChatHandler | None]

# innermost first: the router is wrapped by each of these in turn
LAYER_FACTORIES: list[LayerFactory] = [
    cache_layer,
    idempotency_layer,  # outside the response cache: a replay never reaches it
    tenant_layer,  # limits and spend (outside idempotency: a replay is still a request of the key)
    guardrail_layer,  # before everything else sees the prompt
]


def build_stack(gateway: Gateway, router: ChatHandler, factories: list[LayerFactory] | None = None) -> ChatHandler:
    handler = router
    for factory in LAYER_FACTORIES if factories is None else factories:
        wrapped = factory(gateway, handler)
        if wrapped is not None:
            handler = wrapped
    return handler
