"""A model group's limits hold for every attempt that lands on it, whichever group was asked for (issue 17,
finding 5): over a real socket, with fallbacks, 50 concurrent requests, and two gateway processes sharing
one DynamoDB (moto)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from tests.support.fake_openai import FakeOpenAI
from tests.support.gateway import MASTER_KEY, running_gateway
from tests.support.processes import gateway_processes
from tests.support.servers import free_port
from tests.support.tenants import ManualClock, aws_clients

pytestmark = pytest.mark.slow

HELLO = [{"role": "user", "content": "hello there"}]


def _config(fake: FakeOpenAI) -> dict[str, Any]:
    """``primary`` cannot be reached (nothing listens on its port); its fallback is ``limited``, 3 a minute."""
    deployment = {"provider": "openai", "api_key": "sk-upstream-k"}
    return {
        "models": [
            {"name": "primary", "model": "model-p", "api_base": f"http://127.0.0.1:{free_port()}/v1", **deployment},
            {"name": "limited", "model": "model-l", "api_base": fake.v1, **deployment},
        ],
        "router": {"num_retries": 0, "fallbacks": {"primary": ["limited"]}},
        "tenants": {"model_limits": {"limited": {"rpm": 3}}},
    }


def _post(url: str, model: str) -> httpx.Response:
    body = {"model": model, "messages": HELLO}
    headers = {"authorization": f"Bearer {MASTER_KEY}"}
    return httpx.post(f"{url}/v1/chat/completions", json=body, headers=headers, timeout=30)


def test_fallbacks_count_against_the_group_they_land_on(
    fake_openai: FakeOpenAI, moto_endpoint: str, dynamodb_tables: dict[str, str]
) -> None:
    options = {"aws_clients": aws_clients(moto_endpoint), "clock": ManualClock(now=1_764_000_000.0 + 5)}
    with running_gateway(_config(fake_openai), env=dynamodb_tables, **options) as gateway:
        answers = [_post(gateway.base_url, "primary") for _ in range(8)]
        direct = _post(gateway.base_url, "limited")
    assert [a.status_code for a in answers] == [200] * 3 + [429] * 5
    assert {a.headers["x-llm-gateway-model-group"] for a in answers[:3]} == {"limited"}
    assert answers[0].headers["x-llm-gateway-fallback"] == "fallback"
    refused = answers[3].json()["error"]
    assert (refused["type"], refused["code"]) == ("rate_limit_error", "rate_limit_exceeded")
    assert "model limited" in refused["message"] and int(answers[3].headers["retry-after"]) >= 1
    assert answers[3].headers["x-ratelimit-limit-requests"] == "3"
    assert direct.status_code == 429  # the fallbacks used the group's minute: asked for directly, it is full
    assert len(fake_openai.chat_requests()) == 3


def _away_from_a_minute_boundary() -> None:
    """The limit is per minute on the real clock here (other processes): start well inside a minute, so that
    the 50 requests fall in one window."""
    while not 5 <= time.time() % 60 <= 40:
        time.sleep(0.2)


async def _burst(urls: list[str], model: str, count: int) -> list[httpx.Response]:
    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=count)) as client:
        headers = {"authorization": f"Bearer {MASTER_KEY}"}
        body = {"model": model, "messages": HELLO}
        requests = (
            client.post(f"{urls[i % len(urls)]}/v1/chat/completions", json=body, headers=headers) for i in range(count)
        )
        return list(await asyncio.gather(*requests))


def test_fifty_concurrent_fallbacks_across_two_processes_respect_the_group_limit(
    fake_openai: FakeOpenAI, moto_endpoint: str, dynamodb_tables: dict[str, str]
) -> None:
    with gateway_processes(_config(fake_openai), moto_endpoint, dynamodb_tables, count=2) as (a, b):
        _away_from_a_minute_boundary()
        answers = asyncio.run(_burst([a.base_url, b.base_url], "primary", 50))
    statuses = [answer.status_code for answer in answers]
    assert statuses.count(200) == 3 and statuses.count(429) == 47
    assert len(fake_openai.chat_requests()) == 3
