"""Cooldowns shared through DynamoDB (moto), seen by two gateway instances; DynamoDB call counts; the
state table going away."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.support.fake_openai import FakeOpenAI, Reply, Status
from tests.support.gateway import MASTER_KEY, running_gateway
from tests.support.routing import CountingDynamo, FakeTime, FixedRandom, groups, two_deployments, upstream_models
from tests.support.servers import free_socket

pytestmark = pytest.mark.slow

HEADERS = {"authorization": f"Bearer {MASTER_KEY}"}
MODEL_A = "gpt-test/openai/model-a"
MODEL_B = "gpt-test/openai/model-b"


def chat(base_url: str, model: str = "gpt-test", **body: Any) -> httpx.Response:
    payload = {"model": model, "messages": [{"role": "user", "content": "hi"}], **body}
    return httpx.post(f"{base_url}/v1/chat/completions", json=payload, headers=HEADERS, timeout=30)


@pytest.fixture
def dynamo(moto_endpoint: str) -> CountingDynamo:
    return CountingDynamo(moto_endpoint)


@dataclass
class Pair:
    """Two gateways sharing one StateTable (each with its own DynamoDB client and memory), one clock."""

    one: Any
    two: Any
    clock: FakeTime
    dynamo: CountingDynamo
    table: str

    def cooldowns(self, group: str = "gpt-test") -> dict[str, Any]:
        result = self.dynamo.client.query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"cooldown#{group}"}},
        )
        return {item["sk"]["S"]: item for item in result["Items"]}


@pytest.fixture
def pair(fake_openai: FakeOpenAI, dynamodb_tables: dict[str, str], dynamo: CountingDynamo) -> Iterator[Pair]:
    clock = FakeTime()
    cfg = two_deployments(fake_openai.v1, state_cache_ttl=5)
    second = CountingDynamo(dynamo.client.meta.endpoint_url)
    # without the usage table, usage records stay in memory: these tests count the routing state's calls
    env = {k: v for k, v in dynamodb_tables.items() if k != "LLM_GATEWAY_USAGE_TABLE"}
    options = {"env": env, "rng": FixedRandom(0.1), **clock.options()}
    with (
        running_gateway(cfg, aws_clients=dynamo.aws_clients(), **options) as one,
        running_gateway(cfg, aws_clients=second.aws_clients(), **options) as two,
    ):
        yield Pair(one, two, clock, dynamo, dynamodb_tables["LLM_GATEWAY_STATE_TABLE"])


def test_a_429_with_retry_after_cools_the_deployment_for_every_instance(fake_openai: FakeOpenAI, pair: Pair) -> None:
    one, two, clock = pair.one, pair.two, pair.clock
    fake_openai.plan(Status(429, headers={"retry-after": "40"}), model="model-a")
    first = chat(one.base_url)
    assert first.status_code == 200
    assert first.headers["x-llm-gateway-deployment"] == MODEL_B
    assert upstream_models(fake_openai) == ["model-a", "model-b"]
    item = pair.cooldowns()[MODEL_A]
    assert float(item["cooldown_until"]["N"]) == pytest.approx(clock.wall + 40)

    # The other instance never saw model-a fail, and its rng prefers model-a: it still skips it.
    for _ in range(3):
        assert chat(two.base_url).headers["x-llm-gateway-deployment"] == MODEL_B
    assert upstream_models(fake_openai).count("model-a") == 1

    clock.advance(41)  # cooldown over (and both caches stale): model-a is used again
    assert chat(two.base_url).headers["x-llm-gateway-deployment"] == MODEL_A


def test_allowed_fails_within_the_window_trip_a_shared_cooldown(fake_openai: FakeOpenAI, pair: Pair) -> None:
    one, two, clock = pair.one, pair.two, pair.clock
    fake_openai.plan(Status(500), Status(500), Status(500), model="model-a")
    for _ in range(3):  # allowed_fails defaults to 3; each request is rescued by model-b
        assert chat(one.base_url).status_code == 200
        clock.advance(1)
    assert upstream_models(fake_openai) == ["model-a", "model-b"] * 3
    item = pair.cooldowns()[MODEL_A]
    assert float(item["cooldown_until"]["N"]) == pytest.approx(clock.wall - 1 + 30)

    clock.advance(5)
    fake_openai.reset()
    assert chat(two.base_url).headers["x-llm-gateway-deployment"] == MODEL_B
    assert upstream_models(fake_openai) == ["model-b"]


def test_failures_spread_over_more_than_the_window_do_not_trip(fake_openai: FakeOpenAI, pair: Pair) -> None:
    one, clock = pair.one, pair.clock
    for _ in range(4):
        fake_openai.plan(Status(500), model="model-a")
        assert chat(one.base_url).status_code == 200
        clock.advance(31)  # failure_window 60 s: never three failures within one window
    item = pair.cooldowns()[MODEL_A]
    assert "cooldown_until" not in item


def test_a_success_clears_the_shared_record(fake_openai: FakeOpenAI, pair: Pair) -> None:
    one = pair.one
    fake_openai.plan(Status(500), Reply(text="recovered"), model="model-a")
    assert chat(one.base_url, num_retries=0, fallbacks=[]).status_code == 502
    assert MODEL_A in pair.cooldowns()
    assert chat(one.base_url).headers["x-llm-gateway-deployment"] == MODEL_A
    assert MODEL_A not in pair.cooldowns()


def test_dynamodb_calls_per_healthy_request_and_per_failed_attempt(fake_openai: FakeOpenAI, pair: Pair) -> None:
    one, clock, dynamo = pair.one, pair.clock, pair.dynamo
    dynamo.reset()
    for _ in range(20):
        assert chat(one.base_url).status_code == 200
    assert dynamo.reads == 1  # one Query per group per state_cache_ttl (5 s), however many requests
    assert dynamo.writes == 0
    clock.advance(6)
    for _ in range(20):
        chat(one.base_url)
    assert dynamo.reads == 2
    assert dynamo.writes == 0

    dynamo.reset()
    fake_openai.plan(Status(500), model="model-a")
    assert chat(one.base_url).status_code == 200  # one failed attempt, rescued by model-b
    assert (dynamo.reads, dynamo.writes) == (0, 1)  # one conditional UpdateItem (ADD)
    dynamo.reset()
    fake_openai.plan(Status(500), model="model-a")
    chat(one.base_url)
    assert (dynamo.reads, dynamo.writes) == (0, 1)
    dynamo.reset()
    fake_openai.plan(Status(500), model="model-a")
    chat(one.base_url)  # the third failure trips the cooldown: ADD + SET cooldown_until
    assert (dynamo.reads, dynamo.writes) == (0, 2)


def test_every_deployment_cooling_down_fails_fast_with_503_and_retry_after(fake_openai: FakeOpenAI) -> None:
    fake_openai.plan(Status(429, error_type="rate_limit_error", headers={"retry-after": "20"}))
    clock = FakeTime()
    cfg = groups(fake_openai.v1, {"gpt-test": "model-a"}, max_retry_after=5, when_all_cooling="fail_fast")
    with running_gateway(cfg, **clock.options()) as gw:
        assert chat(gw.base_url).status_code == 429
        clock.advance(2)
        response = chat(gw.base_url)
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "deployments_cooling_down"
    assert response.headers["retry-after"] == "18"
    assert len(fake_openai.chat_requests()) == 1


def test_a_group_cooling_down_hands_over_to_its_fallback(fake_openai: FakeOpenAI) -> None:
    fake_openai.plan(Status(429, headers={"retry-after": "20"}), model="model-a")
    clock = FakeTime()
    cfg = groups(fake_openai.v1, {"a": "model-a", "b": "model-b"}, max_retry_after=5, fallbacks={"a": ["b"]})
    with running_gateway(cfg, **clock.options()) as gw:
        assert chat(gw.base_url, "a").headers["x-llm-gateway-model-group"] == "b"
        again = chat(gw.base_url, "a")
    assert again.headers["x-llm-gateway-model-group"] == "b"
    assert again.headers["x-llm-gateway-attempts"] == "1"
    assert upstream_models(fake_openai) == ["model-a", "model-b", "model-b"]


@pytest.mark.parametrize("mode", ["try_soonest", "auto"])
def test_with_nowhere_else_to_go_a_cooling_group_gets_one_attempt(fake_openai: FakeOpenAI, mode: str) -> None:
    fake_openai.plan(Status(429, headers={"retry-after": "20"}), Status(503), Reply(text="back"))
    clock = FakeTime()
    cfg = groups(fake_openai.v1, {"gpt-test": "model-a"}, max_retry_after=5, when_all_cooling=mode)
    with running_gateway(cfg, **clock.options()) as gw:
        assert chat(gw.base_url).status_code == 429
        failed = chat(gw.base_url)  # one attempt, no retries: the group is known to be unwell
        assert failed.status_code == 502
        assert failed.headers["x-llm-gateway-attempts"] == "1"
        response = chat(gw.base_url)
    assert response.status_code == 200
    assert response.headers["x-llm-gateway-attempts"] == "1"
    assert len(fake_openai.chat_requests()) == 3


def test_requests_are_served_when_the_state_table_is_unreachable(fake_openai: FakeOpenAI) -> None:
    dead = free_socket()  # bound, never listening: connections are refused
    endpoint = f"http://127.0.0.1:{dead.getsockname()[1]}"
    dynamo = CountingDynamo(endpoint, connect_timeout=0.2, read_timeout=0.2)
    clock = FakeTime()
    env = {"LLM_GATEWAY_STATE_TABLE": "missing-table"}
    cfg = two_deployments(fake_openai.v1)
    try:
        with running_gateway(
            cfg, env=env, aws_clients=dynamo.aws_clients(), rng=FixedRandom(0.1), **clock.options()
        ) as gw:
            assert chat(gw.base_url).status_code == 200
            calls_after_first = dynamo.reads + dynamo.writes
            for _ in range(3):  # in-memory cooldowns still work: model-a trips after 3 failures
                fake_openai.plan(Status(500), model="model-a")
                assert chat(gw.base_url).status_code == 200
            fake_openai.reset()
            assert chat(gw.base_url).headers["x-llm-gateway-deployment"] == MODEL_B
            assert upstream_models(fake_openai) == ["model-b"]
            idempotent = {**HEADERS, "idempotency-key": "outage-1"}
            body = {"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]}
            url = f"{gw.base_url}/v1/chat/completions"
            assert httpx.post(url, json=body, headers=idempotent).status_code == 200
            replay = httpx.post(url, json=body, headers=idempotent)
            assert replay.headers["idempotent-replayed"] == "true"
    finally:
        dead.close()
    assert calls_after_first >= 1
    assert dynamo.reads + dynamo.writes <= calls_after_first + 1  # the table is not retried on every request
