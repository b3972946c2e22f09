"""Rate limits, budgets and spend, enforced across two gateway instances sharing one DynamoDB (moto)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import openai
import pytest

from tests.support.fake_openai import FakeOpenAI, Reply
from tests.support.gateway import openai_config, running_gateway
from tests.support.openai_schema import assert_completion, assert_error
from tests.support.sse import check_stream, parse_sse_text
from tests.support.tenants import (
    ManualClock,
    aws_clients,
    key_store,
    make_key,
    priced_config,
    spend_store,
    usage_records,
)

pytestmark = pytest.mark.slow

HELLO = [{"role": "user", "content": "hello there"}]


def _post(base_url: str, key: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(
        f"{base_url}/v1/chat/completions", json=body, headers={"authorization": f"Bearer {key}"}, timeout=30
    )


def _flush(*servers: Any) -> None:
    for server in servers:
        gateway = server.gateway
        asyncio.run_coroutine_threadsafe(gateway.tenants.flush_usage(), server.loop).result(timeout=30)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(now=1_764_000_000.0 + 5)  # 5 s into a minute window


def _two(fake: FakeOpenAI, endpoint: str, tables: dict[str, str], clock: ManualClock, **tenants: Any) -> Any:
    config = priced_config(openai_config(fake.v1), **tenants)
    options = {"aws_clients": aws_clients(endpoint), "clock": clock}
    return running_gateway(config, env=tables, **options), running_gateway(config, env=tables, **options)


def test_rpm_is_shared_by_two_instances(
    fake_openai: FakeOpenAI, moto_endpoint: str, dynamodb_tables: dict[str, str], clock: ManualClock
) -> None:
    secret, _ = make_key(key_store(moto_endpoint, dynamodb_tables), now=clock(), rpm=3)
    first, second = _two(fake_openai, moto_endpoint, dynamodb_tables, clock)
    with first as a, second as b:
        answers = [_post(url, secret, {"model": "gpt-test", "messages": HELLO}) for url in (a.base_url, b.base_url)]
        answers.append(_post(a.base_url, secret, {"model": "gpt-test", "messages": HELLO, "stream": True}))
        assert [r.status_code for r in answers] == [200, 200, 200]
        assert check_stream(parse_sse_text(answers[2].text))[1] is None  # streams carry the headers too
        assert [r.headers["x-ratelimit-remaining-requests"] for r in answers] == ["2", "1", "0"]
        assert answers[0].headers["x-ratelimit-limit-requests"] == "3"
        assert answers[0].headers["x-ratelimit-reset-requests"] == "55s"
        refused = _post(b.base_url, secret, {"model": "gpt-test", "messages": HELLO})
        assert refused.status_code == 429
        body = assert_error(refused.json())
        assert body["error"]["type"] == "rate_limit_error"
        assert body["error"]["code"] == "rate_limit_exceeded"
        assert "requests per min" in body["error"]["message"]
        assert int(refused.headers["retry-after"]) >= 1
        assert refused.headers["x-ratelimit-remaining-requests"] == "0"
        assert len(fake_openai.chat_requests()) == 3  # the refused request never reached the upstream

        # the SDK sees a RateLimitError too (no retries)
        client = openai.OpenAI(base_url=a.base_url + "/v1", api_key=secret, max_retries=0)
        with pytest.raises(openai.RateLimitError):
            client.chat.completions.create(model="gpt-test", messages=HELLO)  # type: ignore[arg-type]

        # sliding window, 5 s into the next minute: the last minute still counts 55/60 * 3 = 2.75 requests,
        # so one more fits (2.75 < 3) and the next does not (3.75)
        clock.advance(60)
        assert _post(a.base_url, secret, {"model": "gpt-test", "messages": HELLO}).status_code == 200
        refused = _post(b.base_url, secret, {"model": "gpt-test", "messages": HELLO})
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == "15"  # 3 * (1 - t/60) + 1 < 3 once t > 20 s: 15 s from now


def test_tpm_counts_real_usage_across_instances(
    fake_openai: FakeOpenAI, moto_endpoint: str, dynamodb_tables: dict[str, str], clock: ManualClock
) -> None:
    secret, _ = make_key(key_store(moto_endpoint, dynamodb_tables), now=clock(), tpm=1000)
    usage = {"prompt_tokens": 300, "completion_tokens": 300, "total_tokens": 600}
    fake_openai.default = Reply(usage=usage)
    first, second = _two(fake_openai, moto_endpoint, dynamodb_tables, clock)
    with first as a, second as b:
        ok = _post(a.base_url, secret, {"model": "gpt-test", "messages": HELLO, "max_tokens": 10})
        assert ok.status_code == 200
        assert ok.headers["x-ratelimit-limit-tokens"] == "1000"
        _flush(a)  # the real usage (600) replaces the estimate
        ok = _post(b.base_url, secret, {"model": "gpt-test", "messages": HELLO, "max_tokens": 10})
        assert ok.status_code == 200  # 600 used < 1000: admitted, then uses 600 more
        _flush(b)
        refused = _post(a.base_url, secret, {"model": "gpt-test", "messages": HELLO, "max_tokens": 10})
        assert refused.status_code == 429
        assert "tokens per min" in refused.json()["error"]["message"]
        assert refused.headers["x-ratelimit-remaining-tokens"] == "0"


def test_model_limit_from_config_applies_to_every_key(
    fake_openai: FakeOpenAI, moto_endpoint: str, dynamodb_tables: dict[str, str], clock: ManualClock, master_key: str
) -> None:
    store = key_store(moto_endpoint, dynamodb_tables)
    alice, _ = make_key(store, now=clock(), owner="alice")
    bob, _ = make_key(store, now=clock(), owner="bob")
    first, second = _two(
        fake_openai, moto_endpoint, dynamodb_tables, clock, model_limits={"gpt-test": {"rpm": 2}}, limits_window="fixed"
    )
    with first as a, second as b:
        assert _post(a.base_url, alice, {"model": "gpt-test", "messages": HELLO}).status_code == 200
        assert _post(b.base_url, bob, {"model": "gpt-test", "messages": HELLO}).status_code == 200
        refused = _post(a.base_url, master_key, {"model": "gpt-test", "messages": HELLO})
        assert refused.status_code == 429
        assert "model gpt-test" in refused.json()["error"]["message"]
        clock.advance(60)  # fixed window: the next minute starts afresh
        assert _post(b.base_url, bob, {"model": "gpt-test", "messages": HELLO}).status_code == 200


def test_budget_is_enforced_across_instances(
    fake_openai: FakeOpenAI, moto_endpoint: str, dynamodb_tables: dict[str, str], clock: ManualClock
) -> None:
    # 10 prompt + 800 completion tokens = $0.000025 + $0.008 a request; each reserves its worst case first
    # (its prompt's bytes at $2.5/M and max_tokens 800 at $10/M: about $0.0081), so two fit $0.02, three not
    fake_openai.default = Reply(usage={"prompt_tokens": 10, "completion_tokens": 800, "total_tokens": 810})
    secret, key_id = make_key(key_store(moto_endpoint, dynamodb_tables), now=clock(), budget_usd=0.02)
    metrics: list[str] = []
    config = priced_config(openai_config(fake_openai.v1))
    options = {"aws_clients": aws_clients(moto_endpoint), "clock": clock, "metrics_sink": metrics.append}
    first = running_gateway(config, env=dynamodb_tables, **options)
    second = running_gateway(config, env=dynamodb_tables, **options)
    body = {"model": "gpt-test", "messages": HELLO, "max_tokens": 800}
    with first as a, second as b:
        assert _post(a.base_url, secret, body).status_code == 200
        _flush(a)
        assert _post(b.base_url, secret, body).status_code == 200
        _flush(b)
        refused = _post(a.base_url, secret, body)
        assert refused.status_code == 429
        error = assert_error(refused.json())["error"]
        assert error["type"] == "insufficient_quota"
        assert error["code"] == "insufficient_quota"
        client = openai.OpenAI(base_url=b.base_url + "/v1", api_key=secret, max_retries=0)
        with pytest.raises(openai.RateLimitError) as raised:
            client.chat.completions.create(model="gpt-test", messages=HELLO, max_tokens=800)  # type: ignore[arg-type]
        assert raised.value.code == "insufficient_quota"
    budget_metrics = [json.loads(line) for line in metrics if "BudgetExceeded" in line]
    assert len(budget_metrics) == 2 and all(m["model"] == "gpt-test" for m in budget_metrics)
    spent = spend_store(moto_endpoint, dynamodb_tables).current_spend(key_id, "monthly", clock())
    assert spent == pytest.approx(0.01605)


def test_spend_is_price_table_times_upstream_usage(
    fake_openai: FakeOpenAI, moto_endpoint: str, dynamodb_tables: dict[str, str], clock: ManualClock
) -> None:
    secret, key_id = make_key(key_store(moto_endpoint, dynamodb_tables), now=clock(), metadata={"team": "search"})
    usage = {
        "prompt_tokens": 1200,
        "completion_tokens": 345,
        "total_tokens": 1545,
        "prompt_tokens_details": {"cached_tokens": 200},
    }
    fake_openai.default = Reply(text="one two three", usage=usage)
    config = priced_config(openai_config(fake_openai.v1))
    with running_gateway(config, env=dynamodb_tables, aws_clients=aws_clients(moto_endpoint), clock=clock) as gw:
        plain = _post(gw.base_url, secret, {"model": "gpt-test", "messages": HELLO, "user": "u-42"})
        assert_completion(plain.json())
        # a stream whose client did not ask for usage: still counted, and the usage chunk is not shown
        streamed = _post(gw.base_url, secret, {"model": "gpt-test", "messages": HELLO, "stream": True})
        chunks, error = check_stream(parse_sse_text(streamed.text))
        assert error is None
        assert all("usage" not in c or c["usage"] is None for c in chunks)
        _flush(gw)
    expected = (1000 * 2.5 + 200 * 1.25 + 345 * 10.0) / 1_000_000
    spend = spend_store(moto_endpoint, dynamodb_tables)
    records = usage_records(spend, key_id, clock() - 60, clock() + 60)
    assert len(records) == 2
    for record in records:
        assert record["cost_usd"] == pytest.approx(expected)
        assert (record["prompt_tokens"], record["completion_tokens"], record["cached_tokens"]) == (1200, 345, 200)
        assert record["model"] == "gpt-test"
        assert record["deployment"] == "gpt-test/openai/fake-model"
        assert record["key_id"] == key_id
        assert record["latency_ms"] >= 0
    assert {r["stream"] for r in records} == {True, False}
    assert [r.get("user") for r in records if not r["stream"]] == ["u-42"]
    assert all(r["key_metadata"] == {"team": "search"} for r in records)
    assert spend.current_spend(key_id, "monthly", clock()) == pytest.approx(2 * expected)
    report = spend.report([key_id], "2025-11-01", "2025-11-30")
    assert report == [
        {
            "key_id": key_id,
            "model": "gpt-test",
            "requests": 2,
            "prompt_tokens": 2400,
            "completion_tokens": 690,
            "cached_tokens": 400,
            "cache_hits": 0,
            "cost_usd": pytest.approx(2 * expected),
        }
    ]


def test_deployment_limit_from_config(
    fake_openai: FakeOpenAI, moto_endpoint: str, dynamodb_tables: dict[str, str], clock: ManualClock, master_key: str
) -> None:
    config = openai_config(fake_openai.v1, id="primary")
    config["tenants"] = {"model_limits": {"primary": {"rpm": 2, "tpm": 100_000}}}
    options = {"aws_clients": aws_clients(moto_endpoint), "clock": clock}
    with (
        running_gateway(config, env=dynamodb_tables, **options) as a,
        running_gateway(config, env=dynamodb_tables, **options) as b,
    ):
        assert _post(a.base_url, master_key, {"model": "gpt-test", "messages": HELLO}).status_code == 200
        streamed = _post(b.base_url, master_key, {"model": "gpt-test", "messages": HELLO, "stream": True})
        assert streamed.status_code == 200
        refused = _post(a.base_url, master_key, {"model": "gpt-test", "messages": HELLO})
        assert refused.status_code == 429
        error = assert_error(refused.json())["error"]
        assert (error["type"], error["code"]) == ("rate_limit_error", "rate_limit_exceeded")
        assert "deployment 'primary'" in error["message"]
        assert int(refused.headers["retry-after"]) >= 1
    assert len(fake_openai.chat_requests()) == 2


def test_limits_naming_unknown_models_fail_at_start(fake_openai: FakeOpenAI) -> None:
    from llm_gateway.config import ConfigError
    from tests.support.gateway import make_gateway

    config = {**openai_config(fake_openai.v1), "tenants": {"model_limits": {"gtp-test": {"rpm": 1}}}}
    with pytest.raises(ConfigError, match="gtp-test"):
        make_gateway(config).ensure_ready()


def test_a_fallback_is_priced_as_the_model_that_answered(
    fake_openai: FakeOpenAI, moto_endpoint: str, dynamodb_tables: dict[str, str], clock: ManualClock, master_key: str
) -> None:
    from tests.support.fake_openai import Status
    from tests.support.routing import groups

    fake_openai.plan(Status(500), model="model-a")
    fake_openai.default = Reply(usage={"prompt_tokens": 1000, "completion_tokens": 1000, "total_tokens": 2000})
    config = groups(fake_openai.v1, {"a": "model-a", "b": "model-b"}, fallbacks={"a": ["b"]})
    config["tenants"] = {"prices": {"a": {"input": 100, "output": 100}, "b": {"input": 1, "output": 2}}}
    with running_gateway(config, env=dynamodb_tables, aws_clients=aws_clients(moto_endpoint), clock=clock) as gw:
        answer = _post(gw.base_url, master_key, {"model": "a", "messages": HELLO, "num_retries": 0})
        assert answer.status_code == 200 and answer.headers["x-llm-gateway-model-group"] == "b"
        _flush(gw)
    (record,) = usage_records(spend_store(moto_endpoint, dynamodb_tables), "master", clock() - 60, clock() + 60)
    assert (record["model"], record["cost_usd"]) == ("b", pytest.approx(0.003))
