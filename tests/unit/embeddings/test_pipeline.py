"""Every layer of the pipeline says what it does for an embeddings request (one pipeline, one order)."""

from __future__ import annotations

from llm_gateway.cache.layer import CacheLayer
from llm_gateway.core.attempts import AttemptLayer
from llm_gateway.core.pipeline import Layer
from llm_gateway.guardrails.layer import GuardrailLayer
from llm_gateway.idempotency.layer import IdempotencyLayer
from llm_gateway.routing.router import Router
from llm_gateway.tenants.layer import TenantLayer
from llm_gateway.tenants.model_limits import ModelLimits
from tests.support.gateway import make_gateway

LAYERS = (GuardrailLayer, TenantLayer, IdempotencyLayer, CacheLayer, Router, ModelLimits)


def _subclasses(base: type) -> set[type]:
    found = set(base.__subclasses__())
    for child in list(found):
        found |= _subclasses(child)
    return found


def test_every_layer_that_handles_chat_handles_embeddings() -> None:
    """A layer that overrides ``complete`` must override ``embed`` too, or an embeddings request would
    pass it by unchecked (the pass-through base would skip the feature)."""
    assert {cls for cls in LAYERS if "embed" not in vars(cls)} == set()
    for cls in _subclasses(Layer) | _subclasses(AttemptLayer):
        if cls.__module__.startswith("llm_gateway.") and "complete" in vars(cls):
            assert "embed" in vars(cls), f"{cls.__qualname__} handles chat but not embeddings"


def test_embeddings_run_through_the_whole_pipeline() -> None:
    gateway = make_gateway(
        {
            "models": [{"name": "e", "provider": "mock", "model": "m", "endpoints": ["embeddings"]}],
            "cache": {"backend": "memory"},
            "idempotency": {"enabled": True},
            "tenants": {"model_limits": {"e/mock/m": {"rpm": 100}}},
        },
        metrics_sink=lambda line: None,
    ).ensure_ready()
    assert gateway.layers == [
        "guardrails",
        "limits_and_spend",
        "idempotency",
        "cache",
        "router",
        "model_limits",
        "provider",
    ]
    assert gateway.embeddings.pipeline is gateway.service.pipeline
