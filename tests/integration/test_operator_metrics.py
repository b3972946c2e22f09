"""The metrics behind the upstream-error, cooldown and model-group alarms, as the gateway writes them:
real requests over a socket, a faulty fake upstream, the EMF documents that reach stdout."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.fake_openai import FakeOpenAI, Reply, Status
from tests.support.gateway import MASTER_KEY, running_gateway
from tests.support.routing import FixedRandom, two_deployments
from tests.support.servers import UvicornThread, wait_until

pytestmark = pytest.mark.slow

HEADERS = {"authorization": f"Bearer {MASTER_KEY}"}


@pytest.fixture
def emitted() -> list[str]:
    return []


@pytest.fixture
def gateway(fake_openai: FakeOpenAI, emitted: list[str]) -> Iterator[UvicornThread]:
    config = two_deployments(fake_openai.v1, num_retries=1, allowed_fails=1, cooldown_seconds=60, backoff_base=0)
    with running_gateway(config, rng=FixedRandom(0.1), metrics_sink=emitted.append) as server:
        yield server


def chat(server: UvicornThread) -> httpx.Response:
    body = {"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]}
    return httpx.post(f"{server.base_url}/v1/chat/completions", json=body, headers=HEADERS, timeout=30)


def documents(emitted: list[str], count: int) -> list[dict[str, Any]]:
    wait_until(lambda: len(emitted) >= count)
    return [json.loads(line) for line in emitted]


def value(document: dict[str, Any], name: str) -> float:
    """A metric's total in one document, as CloudWatch's Sum reads it (EMF values are a number or a list of
    samples; Powertools writes lists)."""
    found = document[name]
    return float(sum(found)) if isinstance(found, list) else float(found)


def metric_names(document: dict[str, Any]) -> set[str]:
    return {m["Name"] for m in document["_aws"]["CloudWatchMetrics"][0]["Metrics"]}


def test_failed_attempts_cooldowns_and_a_whole_group_cooling_are_counted(
    gateway: UvicornThread, fake_openai: FakeOpenAI, emitted: list[str]
) -> None:
    fake_openai.plan(Status(500), Status(503))  # both deployments fail once: each cools down
    assert chat(gateway).status_code == 502  # the last upstream error, as a bad gateway
    # Nothing healthy left: with no fallback group the router tries the deployment back soonest (it answers).
    assert chat(gateway).status_code == 200
    first, second = documents(emitted, 2)
    assert (
        value(first, "UpstreamAttempts") == 2 and value(first, "UpstreamErrors") == 2 and value(first, "Cooldowns") == 2
    )
    assert "AllDeploymentsCooling" not in first
    assert value(second, "AllDeploymentsCooling") == 1
    assert value(second, "UpstreamAttempts") == 1 and value(second, "UpstreamErrors") == 0
    dimension_sets = first["_aws"]["CloudWatchMetrics"][0]["Dimensions"]
    assert [sorted(dimensions) for dimensions in dimension_sets] == [["model", "service"], ["service"]]
    assert first["model"] == "gpt-test" and first["service"]


def test_a_group_that_fails_fast_is_counted_without_an_upstream_call(
    fake_openai: FakeOpenAI, emitted: list[str]
) -> None:
    config = two_deployments(
        fake_openai.v1,
        num_retries=1,
        allowed_fails=1,
        cooldown_seconds=60,
        backoff_base=0,
        when_all_cooling="fail_fast",
    )
    with running_gateway(config, rng=FixedRandom(0.1), metrics_sink=emitted.append) as server:
        fake_openai.plan(Status(500), Status(500))
        assert chat(server).status_code == 502
        refused = chat(server)
    assert refused.status_code == 503 and refused.json()["error"]["code"] == "deployments_cooling_down"
    _, second = documents(emitted, 2)
    assert value(second, "AllDeploymentsCooling") == 1 and "UpstreamAttempts" not in second


def test_a_client_error_from_upstream_is_not_an_upstream_failure(
    gateway: UvicornThread, fake_openai: FakeOpenAI, emitted: list[str]
) -> None:
    fake_openai.plan(Status(400))
    assert chat(gateway).status_code == 400
    fake_openai.plan(Reply())
    assert chat(gateway).status_code == 200
    bad, good = documents(emitted, 2)
    assert value(bad, "UpstreamAttempts") == 1 and value(bad, "UpstreamErrors") == 0
    assert "Cooldowns" not in metric_names(bad)
    assert value(good, "UpstreamAttempts") == 1 and value(good, "UpstreamErrors") == 0
