"""Routing pieces in isolation: backoff, retry classification, balancing, token estimate, Lambda deadline,
config checks."""

from __future__ import annotations

import json
import random
from collections import Counter
from types import SimpleNamespace
from typing import Any

import pytest
from starlette.requests import Request

from llm_gateway.api.context import lambda_seconds_left, new_context
from llm_gateway.config import ConfigError, DeploymentConfig
from llm_gateway.core.tokens import estimate_prompt_tokens
from llm_gateway.errors import (
    InvalidRequestError,
    UpstreamConnectionError,
    UpstreamStatusError,
    UpstreamTimeoutError,
)
from llm_gateway.providers.base import Deployment
from llm_gateway.routing import balancer
from llm_gateway.routing.retry import Backoff, counts_against_deployment, is_context_length_error, is_retryable
from tests.support.gateway import make_gateway
from tests.support.routing import FixedRandom


def deployment(model: str, weight: float = 1.0) -> Deployment:
    config = DeploymentConfig(name="g", provider="openai", model=model, weight=weight)
    return Deployment(id=f"g/openai/{model}", group="g", provider="openai", model=model, config=config)


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504, 529])
def test_retryable_statuses(status: int) -> None:
    assert is_retryable(UpstreamStatusError("x", upstream_status=status))


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 413, 422])
def test_other_4xx_are_final(status: int) -> None:
    assert not is_retryable(UpstreamStatusError("x", upstream_status=status, status_code=status))


def test_connection_errors_and_timeouts_are_retryable_but_gateway_errors_are_not() -> None:
    assert is_retryable(UpstreamConnectionError("x"))
    assert is_retryable(UpstreamTimeoutError("x"))
    assert not is_retryable(InvalidRequestError("x"))


def test_what_counts_against_a_deployment() -> None:
    assert counts_against_deployment(UpstreamStatusError("x", upstream_status=503))
    assert counts_against_deployment(UpstreamStatusError("x", upstream_status=401))  # bad gateway credentials
    assert not counts_against_deployment(UpstreamStatusError("x", upstream_status=400))
    assert not counts_against_deployment(InvalidRequestError("x"))


def test_context_length_errors_are_recognised_by_code() -> None:
    assert is_context_length_error(
        UpstreamStatusError("x", upstream_status=400, status_code=400, code="context_length_exceeded")
    )
    assert not is_context_length_error(UpstreamStatusError("x", upstream_status=400, status_code=400))


def test_full_jitter_stays_within_the_exponential_ceiling() -> None:
    backoff = Backoff(base=0.5, cap=4.0, max_retry_after=30)
    rng = random.Random(7)
    for retry in range(8):
        ceiling = min(4.0, 0.5 * 2**retry)
        waits = [backoff.jitter(retry, rng) for _ in range(200)]
        assert all(0 <= w <= ceiling for w in waits)
        assert max(waits) > ceiling * 0.8  # the whole range is used, not just its bottom


def test_retry_after_applies_only_to_the_deployment_that_sent_it() -> None:
    backoff = Backoff(base=0.5, cap=4.0, max_retry_after=10)
    rng = FixedRandom(0.5)
    assert backoff.delay(0, rng, retry_after=3.0, same_deployment=True) == 3.0
    assert backoff.delay(0, rng, retry_after=3.0, same_deployment=False) == 0.25
    assert backoff.delay(0, rng, retry_after=11.0, same_deployment=True) is None
    assert backoff.delay(2, rng, retry_after=None, same_deployment=True) == 1.0


def test_weighted_balancing_follows_the_weights() -> None:
    heavy, light = deployment("heavy", 3.0), deployment("light", 1.0)
    rng = random.Random(1)
    picks = Counter(balancer.pick([heavy, light], rng).model for _ in range(4000))
    assert 0.70 < picks["heavy"] / 4000 < 0.80


def test_latency_balancing_prefers_the_faster_deployment_but_keeps_trying_others() -> None:
    fast, slow, new = deployment("fast"), deployment("slow"), deployment("new")
    latency = {fast.id: 0.1, slow.id: 1.0}
    rng = random.Random(2)
    picks = Counter(
        balancer.pick([fast, slow, new], rng, strategy="latency", latency=latency).model for _ in range(3000)
    )
    assert picks["fast"] > 5 * picks["slow"]
    assert picks["new"] > 5 * picks["slow"]  # unmeasured counts as fast as the fastest
    assert picks["slow"] > 0


def test_token_estimate_is_a_low_bound_of_four_characters_per_token() -> None:
    body = {"messages": [{"role": "user", "content": "a" * 4000}, {"role": "assistant", "content": None}]}
    assert estimate_prompt_tokens(body) == 1000 + 2 * 3
    parts = {"messages": [{"role": "user", "content": [{"type": "text", "text": "b" * 400}, {"type": "image_url"}]}]}
    assert estimate_prompt_tokens(parts) == 103
    with_tools = {
        "messages": [{"role": "user", "content": "hi"}],
        "tools": [{"type": "function", "function": {"name": "f" * 100}}],
    }
    assert estimate_prompt_tokens(with_tools) > 25


def _request(headers: dict[str, str], scope_extra: dict[str, Any] | None = None) -> Request:
    raw = [(k.encode(), v.encode()) for k, v in headers.items()]
    return Request({"type": "http", "method": "POST", "path": "/", "headers": raw, **(scope_extra or {})})


def test_lambda_web_adapter_context_header_gives_the_time_left() -> None:
    header = json.dumps({"request_id": "r", "deadline": 1_000_030_000, "invoked_function_arn": "arn"})
    assert lambda_seconds_left(_request({"x-amzn-lambda-context": header}), lambda: 1_000_000.0) == 30.0


@pytest.mark.parametrize("header", ["not json", "[]", '{"deadline": "soon"}', '{"deadline": true}', "{}"])
def test_a_malformed_lambda_context_header_is_ignored(header: str) -> None:
    assert lambda_seconds_left(_request({"x-amzn-lambda-context": header}), lambda: 0.0) is None


def test_mangum_lambda_context_object_gives_the_time_left() -> None:
    context = SimpleNamespace(get_remaining_time_in_millis=lambda: 12_500)
    assert lambda_seconds_left(_request({}, {"aws.context": context}), lambda: 0.0) == 12.5


def test_the_deadline_is_the_lambda_time_left_minus_the_margin_capped_by_the_request_timeout() -> None:
    gateway = make_gateway(
        {"models": [{"name": "m", "provider": "mock", "model": "m"}], "router": {"deadline_margin": 2}},
        clock=lambda: 1000.0,
        monotonic=lambda: 50.0,
    ).ensure_ready()
    near = json.dumps({"deadline": 1_010_000})
    assert new_context(_request({"x-amzn-lambda-context": near}), gateway.api.chat).deadline == 50.0 + 8.0
    far = json.dumps({"deadline": 99_000_000})
    assert new_context(_request({"x-amzn-lambda-context": far}), gateway.api.chat).deadline == 50.0 + 600.0
    past = json.dumps({"deadline": 999_000})
    assert new_context(_request({"x-amzn-lambda-context": past}), gateway.api.chat).deadline == 50.0
    assert new_context(_request({}), gateway.api.chat).deadline == 50.0 + 600.0


def test_router_config_must_name_existing_groups() -> None:
    models = [{"name": "a", "provider": "mock", "model": "m"}]
    with pytest.raises(ConfigError, match="'ghost'"):
        make_gateway({"models": models, "router": {"fallbacks": {"a": ["ghost"]}}}).ensure_ready()
    with pytest.raises(ConfigError, match="router"):
        make_gateway({"models": models, "router": {"retries": 3}})


def test_router_config_rejects_a_cap_below_the_base() -> None:
    with pytest.raises(ConfigError, match="backoff_cap"):
        make_gateway(
            {
                "models": [{"name": "a", "provider": "mock", "model": "m"}],
                "router": {"backoff_base": 5, "backoff_cap": 1},
            }
        )
