"""Retries and backoff through the HTTP API, against the fault-injecting fake upstream."""

from __future__ import annotations

import email.utils
import time
from typing import Any

import httpx
import pytest

from tests.support.fake_openai import Drop, FakeOpenAI, Hang, Reply, Status
from tests.support.gateway import MASTER_KEY, openai_config, running_gateway
from tests.support.openai_schema import assert_completion, assert_error
from tests.support.routing import FakeTime, FixedRandom, two_deployments, upstream_models

pytestmark = pytest.mark.slow

HEADERS = {"authorization": f"Bearer {MASTER_KEY}"}


def chat(base_url: str, **body: Any) -> httpx.Response:
    payload = {"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}], **body}
    return httpx.post(f"{base_url}/v1/chat/completions", json=payload, headers=HEADERS, timeout=30)


def config(api_base: str, **router: Any) -> dict[str, Any]:
    return {**openai_config(api_base), "router": router}


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504, 529])
def test_each_retryable_status_is_retried_after_a_jittered_backoff(fake_openai: FakeOpenAI, status: int) -> None:
    fake_openai.plan(Status(status, message="try again"), Reply(text="second time lucky"))
    clock = FakeTime()
    with running_gateway(config(fake_openai.v1, backoff_base=0.4), rng=FixedRandom(0.25), **clock.options()) as gw:
        response = chat(gw.base_url)
    assert response.status_code == 200, response.text
    assert_completion(response.json())
    assert response.json()["choices"][0]["message"]["content"] == "second time lucky"
    assert response.headers["x-llm-gateway-attempts"] == "2"
    assert len(fake_openai.chat_requests()) == 2
    assert clock.sleeps == [pytest.approx(0.1)]  # uniform(0, 0.4) with the scripted draw 0.25


def test_connection_drop_is_retried(fake_openai: FakeOpenAI) -> None:
    fake_openai.plan(Drop(), Reply(text="ok"))
    clock = FakeTime()
    with running_gateway(config(fake_openai.v1), rng=FixedRandom(), **clock.options()) as gw:
        response = chat(gw.base_url)
    assert response.status_code == 200
    assert response.headers["x-llm-gateway-attempts"] == "2"


def test_upstream_timeout_is_retried(fake_openai: FakeOpenAI) -> None:
    fake_openai.plan(Hang(), Reply(text="ok"))
    cfg = config(fake_openai.v1)
    cfg["models"][0]["timeout"] = 0.3
    clock = FakeTime()
    with running_gateway(cfg, rng=FixedRandom(), **clock.options()) as gw:
        response = chat(gw.base_url)
    assert response.status_code == 200
    assert response.headers["x-llm-gateway-attempts"] == "2"


def test_backoff_doubles_up_to_the_cap(fake_openai: FakeOpenAI) -> None:
    fake_openai.plan(*[Status(500)] * 4, Reply(text="ok"))
    clock = FakeTime()
    cfg = config(fake_openai.v1, backoff_base=1.0, backoff_cap=3.0, allowed_fails=10)
    with running_gateway(cfg, rng=FixedRandom(0.5), **clock.options()) as gw:
        response = chat(gw.base_url, num_retries=4)
    assert response.status_code == 200
    assert response.headers["x-llm-gateway-attempts"] == "5"
    assert clock.sleeps == [0.5, 1.0, 1.5, 1.5]  # half of min(cap, base * 2**n)


def test_num_retries_from_request_then_config(fake_openai: FakeOpenAI) -> None:
    fake_openai.default = Status(503)
    clock = FakeTime()
    with running_gateway(config(fake_openai.v1, num_retries=1, allowed_fails=10), **clock.options()) as gw:
        by_config = chat(gw.base_url)
        assert by_config.headers["x-llm-gateway-attempts"] == "2"
        by_request = chat(gw.base_url, num_retries=3)
        assert by_request.headers["x-llm-gateway-attempts"] == "4"
        none = chat(gw.base_url, num_retries=0)
        assert none.headers["x-llm-gateway-attempts"] == "1"
    assert by_config.status_code == 502
    assert_error(by_config.json())
    assert len(fake_openai.chat_requests()) == 7


@pytest.mark.parametrize(
    ("upstream", "client_status"), [(400, 400), (401, 502), (403, 502), (404, 404), (409, 409), (422, 422)]
)
def test_other_4xx_are_not_retried(fake_openai: FakeOpenAI, upstream: int, client_status: int) -> None:
    fake_openai.plan(Status(upstream, message="nope"), Reply())
    clock = FakeTime()
    with running_gateway(config(fake_openai.v1), **clock.options()) as gw:
        response = chat(gw.base_url)
    assert response.status_code == client_status
    assert_error(response.json())
    assert response.headers["x-llm-gateway-attempts"] == "1"
    assert len(fake_openai.chat_requests()) == 1
    assert clock.sleeps == []


def test_retry_after_seconds_is_honoured_on_the_same_deployment(fake_openai: FakeOpenAI) -> None:
    fake_openai.plan(Status(429, headers={"retry-after": "2"}), Reply(text="ok"))
    clock = FakeTime()
    with running_gateway(config(fake_openai.v1), rng=FixedRandom(), **clock.options()) as gw:
        response = chat(gw.base_url)
    assert response.status_code == 200
    assert clock.sleeps == [2.0]


def test_retry_after_ms_is_honoured(fake_openai: FakeOpenAI) -> None:
    fake_openai.plan(Status(503, headers={"retry-after-ms": "1500"}), Reply(text="ok"))
    clock = FakeTime()
    with running_gateway(config(fake_openai.v1), rng=FixedRandom(), **clock.options()) as gw:
        response = chat(gw.base_url)
    assert response.status_code == 200
    assert clock.sleeps == [1.5]


def test_retry_after_http_date_is_honoured(fake_openai: FakeOpenAI) -> None:
    when = email.utils.formatdate(time.time() + 5, usegmt=True)
    fake_openai.plan(Status(429, headers={"retry-after": when}), Reply(text="ok"))
    clock = FakeTime()
    with running_gateway(config(fake_openai.v1), rng=FixedRandom(), **clock.options()) as gw:
        response = chat(gw.base_url)
    assert response.status_code == 200
    assert len(clock.sleeps) == 1
    assert 3.0 < clock.sleeps[0] <= 5.0


def test_retry_after_longer_than_the_cap_is_not_waited(fake_openai: FakeOpenAI) -> None:
    fake_openai.plan(Status(429, error_type="rate_limit_error", headers={"retry-after": "120"}), Reply(text="x"))
    clock = FakeTime()
    with running_gateway(config(fake_openai.v1, max_retry_after=30), **clock.options()) as gw:
        response = chat(gw.base_url)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "120"
    assert response.json()["error"]["type"] == "rate_limit_error"
    assert clock.sleeps == []
    assert len(fake_openai.chat_requests()) == 1


def test_a_retry_moves_to_another_healthy_deployment(fake_openai: FakeOpenAI) -> None:
    fake_openai.plan(Status(429, headers={"retry-after": "20"}), model="model-a")
    clock = FakeTime()
    with running_gateway(two_deployments(fake_openai.v1), rng=FixedRandom(0.1), **clock.options()) as gw:
        response = chat(gw.base_url)
    assert response.status_code == 200
    assert upstream_models(fake_openai) == ["model-a", "model-b"]
    assert response.headers["x-llm-gateway-deployment"] == "gpt-test/openai/model-b"
    assert response.headers["x-llm-gateway-attempts"] == "2"
    assert clock.sleeps == [pytest.approx(0.05)]  # ordinary jitter: the Retry-After was model-a's


def test_deadline_is_never_exceeded_with_a_hanging_upstream(fake_openai: FakeOpenAI) -> None:
    """The request's 1 s deadline ends the hanging attempt and leaves no time for the 5 retries. Only the
    deadline can end it: the upstream's silence would last its read timeout (120 s), longer than the
    client waits (30 s), so a 504 from the gateway is the proof."""
    fake_openai.default = Hang()
    cfg = config(fake_openai.v1, allowed_fails=100)
    cfg["server"] = {"request_timeout": 1.0, "read_timeout": 120}
    with running_gateway(cfg) as gw:
        response = chat(gw.base_url, num_retries=5)
    assert response.status_code == 504
    assert assert_error(response.json())["error"]["code"] == "upstream_timeout"
    assert response.headers["x-llm-gateway-attempts"] == "1"
    assert len(fake_openai.chat_requests()) == 1


def test_backoff_that_would_cross_the_deadline_is_not_slept(fake_openai: FakeOpenAI) -> None:
    fake_openai.default = Status(503)
    clock = FakeTime()
    cfg = config(fake_openai.v1, backoff_base=2.0, backoff_cap=2.0, allowed_fails=100)
    cfg["server"] = {"request_timeout": 3.0}
    with running_gateway(cfg, rng=FixedRandom(0.9), **clock.options()) as gw:
        started = clock.monotonic()
        response = chat(gw.base_url, num_retries=5)
        spent = clock.monotonic() - started
    assert response.status_code == 502
    assert clock.sleeps == [pytest.approx(1.8)]  # a second 1.8 s wait would pass the 3 s deadline
    assert spent < 3.0
    assert response.headers["x-llm-gateway-attempts"] == "2"


def test_lambda_context_header_sets_the_deadline(fake_openai: FakeOpenAI) -> None:
    """The adapter's deadline (1.6 s away, less the 1 s margin) ends the request, not the 600 s request
    timeout: the upstream hangs, and only that deadline can answer before the client gives up (30 s)."""
    fake_openai.default = Hang()
    cfg = config(fake_openai.v1, deadline_margin=1.0)
    with running_gateway(cfg) as gw:
        deadline_ms = int((time.time() + 1.6) * 1000)
        response = httpx.post(
            f"{gw.base_url}/v1/chat/completions",
            json={"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]},
            headers={**HEADERS, "x-amzn-lambda-context": f'{{"request_id": "abc", "deadline": {deadline_ms}}}'},
            timeout=30,
        )
    assert response.status_code == 504
    assert assert_error(response.json())["error"]["code"] == "upstream_timeout"


def test_running_out_of_request_time_is_not_held_against_the_deployment(fake_openai: FakeOpenAI) -> None:
    fake_openai.plan(Hang(), Reply(text="fine"), model="model-a")
    cfg = two_deployments(fake_openai.v1, allowed_fails=1)
    cfg["server"] = {"request_timeout": 0.5}
    with running_gateway(cfg, rng=FixedRandom(0.1)) as gw:
        assert chat(gw.base_url).status_code == 504
        second = chat(gw.base_url)
    assert second.headers["x-llm-gateway-deployment"] == "gpt-test/openai/model-a"
    assert upstream_models(fake_openai) == ["model-a", "model-a"]
