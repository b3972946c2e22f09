"""Representative traffic with every log record and metrics line captured: no key, no prompt, no answer."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from tests.support.fake_openai import CutStream, FakeOpenAI, Reply, Status
from tests.support.gateway import MASTER_KEY, openai_config, running_gateway
from tests.support.log_scan import Capture, captured_logs
from tests.support.tenants import ManualClock, aws_clients, key_store, make_key, priced_config

pytestmark = pytest.mark.slow

PROMPT = "zebra-quartz-marmalade confidential plan"
ANSWER = "pineapple-orbit-lantern reply"
UPSTREAM_KEY = "sk-upstream-secret-key-abcdef"


@pytest.fixture
def captured() -> Iterator[Capture]:
    with captured_logs() as handler:
        yield handler


def test_logs_and_metrics_never_hold_keys_or_text(
    fake_openai: FakeOpenAI, moto_endpoint: str, dynamodb_tables: dict[str, str], captured: Capture
) -> None:
    clock = ManualClock()
    store = key_store(moto_endpoint, dynamodb_tables)
    secret, key_id = make_key(store, now=clock(), rpm=4, budget_usd=100.0)
    revoked, revoked_id = make_key(store, now=clock())
    store.revoke(revoked_id, now=clock())
    metrics: list[str] = []
    fake_openai.default = Reply(text=ANSWER)
    config = priced_config(openai_config(fake_openai.v1), key_cache_seconds=0)
    config["guardrails"] = {"definitions": {"deny_list": {"type": "deny_list", "terms": ["forbidden"]}}}
    messages = [{"role": "user", "content": PROMPT}]
    with running_gateway(
        config,
        env=dynamodb_tables,
        aws_clients=aws_clients(moto_endpoint),
        clock=clock,
        metrics_sink=metrics.append,
    ) as gw:
        url = f"{gw.base_url}/v1/chat/completions"
        for key in (secret, MASTER_KEY):
            auth = {"authorization": f"Bearer {key}"}
            assert httpx.post(url, json={"model": "gpt-test", "messages": messages}, headers=auth).status_code == 200
            streamed = httpx.post(url, json={"model": "gpt-test", "messages": messages, "stream": True}, headers=auth)
            assert ANSWER.split(maxsplit=1)[0] in streamed.text
        auth = {"authorization": f"Bearer {secret}"}
        fake_openai.plan(Status(500, message=f"upstream broke on {PROMPT}"), CutStream(after=2))
        assert httpx.post(url, json={"model": "gpt-test", "messages": messages}, headers=auth).status_code >= 500
        httpx.post(url, json={"model": "gpt-test", "messages": messages, "stream": True}, headers=auth)
        denied = [{"role": "user", "content": PROMPT + " forbidden"}]
        body = {"model": "gpt-test", "messages": denied, "guardrails": ["deny_list"]}
        assert httpx.post(url, json=body, headers=auth).status_code == 400
        assert httpx.post(url, json={"model": "gpt-test", "messages": messages}, headers=auth).status_code == 429
        for wrong in (revoked, "sk-lg-not-a-real-key-000000000000", MASTER_KEY + "x"):
            bad = httpx.post(url, json={"model": "gpt-test", "messages": messages}, headers={"authorization": wrong})
            assert bad.status_code == 401
        assert httpx.get(f"{gw.base_url}/v1/spend", headers=auth).status_code == 200
        gw.gateway.tenants  # noqa: B018 - built
    text = "\n".join(captured.lines + metrics)
    for secret_value in (secret, revoked, MASTER_KEY, UPSTREAM_KEY, "sk-lg-not-a-real-key", PROMPT, ANSWER, "zebra"):
        assert secret_value not in text, secret_value
    access = [json.loads(line) for line in captured.lines if '"llm_gateway.access"' in line]
    assert len(access) >= 8
    ours = [line for line in access if line.get("key_id") == key_id and line["status"] == 200]
    assert ours and all(
        {"cost_usd", "total_tokens", "cache", "retries", "fallbacks", "latency_ms"} <= set(line) for line in ours
    )
    assert any("ttft_ms" in line for line in ours)
    assert len(metrics) >= 8
    emf = json.loads(metrics[0])
    assert emf["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "LlmGateway"
    assert emf["key_id"] in (key_id, "master")


def test_operator_can_opt_in_to_content_logging(fake_openai: FakeOpenAI, captured: Capture) -> None:
    fake_openai.default = Reply(text=ANSWER)
    config = {**openai_config(fake_openai.v1), "tenants": {"telemetry": {"log_content": True}}}
    with running_gateway(config) as gw:
        httpx.post(
            f"{gw.base_url}/v1/chat/completions",
            json={"model": "gpt-test", "messages": [{"role": "user", "content": PROMPT}]},
            headers={"authorization": f"Bearer {MASTER_KEY}"},
        )
    access = [json.loads(line) for line in captured.lines if '"llm_gateway.access"' in line]
    assert access[-1]["prompt"] == [{"role": "user", "content": PROMPT}]
    assert access[-1]["answer"] == ANSWER
    assert MASTER_KEY not in "\n".join(captured.lines)
