"""Budgets hold under concurrency (issue 17, finding 3), and the budget check and the spend report see
every answered request (finding 4): over a real socket, in one gateway and across two gateway processes
sharing one DynamoDB (moto)."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import httpx
import pytest

from tests.support.fake_openai import FakeOpenAI, Reply
from tests.support.gateway import MASTER_KEY, openai_config, running_gateway
from tests.support.processes import gateway_processes
from tests.support.servers import UvicornThread
from tests.support.tenants import aws_clients, key_store, make_key, spend_store, usage_records

pytestmark = pytest.mark.slow

HELLO = [{"role": "user", "content": "hello there"}]
# $20,000 per million completion tokens and nothing for the prompt: 100 completion tokens cost $2, and a
# request with max_tokens 100 may cost at most that: its reservation is its real cost
USAGE_100 = {"prompt_tokens": 10, "completion_tokens": 100, "total_tokens": 110}


def _config(fake: FakeOpenAI, **tenants: Any) -> dict[str, Any]:
    config = openai_config(fake.v1)
    # The budget's guarantee is under test, not the fallback for a slow store: on a loaded machine moto
    # can take longer than the default second, and "allow" would then let a request through unchecked.
    config["tenants"] = {
        "prices": {"gpt-test": {"input": 0, "output": 20_000}},
        "store_timeout": 30,
        "limits_when_store_down": "refuse",
        **tenants,
    }
    config["router"] = {"num_retries": 0}
    return config


async def _burst(urls: list[str], key: str, body: dict[str, Any], count: int) -> list[httpx.Response]:
    """``count`` requests at once, spread over ``urls`` in turn."""
    limits = httpx.Limits(max_connections=count)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        headers = {"authorization": f"Bearer {key}"}
        return list(
            await asyncio.gather(
                *(
                    client.post(f"{urls[i % len(urls)]}/v1/chat/completions", json=body, headers=headers)
                    for i in range(count)
                )
            )
        )


def _flush(server: UvicornThread) -> None:
    assert server.loop is not None
    tenants = server.gateway.tenants  # type: ignore[attr-defined]
    assert asyncio.run_coroutine_threadsafe(tenants.flush_usage(), server.loop).result(timeout=30)


def _outcomes(answers: list[httpx.Response]) -> dict[Any, int]:
    found: dict[Any, int] = {}
    for answer in answers:
        key = answer.status_code if answer.status_code == 200 else (answer.status_code, answer.json()["error"]["code"])
        found[key] = found.get(key, 0) + 1
    return found


def test_fifty_concurrent_two_dollar_requests_on_a_five_dollar_budget_spend_four(
    fake_openai: FakeOpenAI, moto_endpoint: str, dynamodb_tables: dict[str, str]
) -> None:
    fake_openai.default = Reply(usage=USAGE_100, delay=0.2)  # all 50 are in flight together
    secret, key_id = make_key(key_store(moto_endpoint, dynamodb_tables), now=time.time(), budget_usd=5.0)
    options = {"aws_clients": aws_clients(moto_endpoint)}
    with running_gateway(_config(fake_openai), env=dynamodb_tables, **options) as gateway:
        body = {"model": "gpt-test", "messages": HELLO, "max_tokens": 100}
        answers = asyncio.run(_burst([gateway.base_url], secret, body, 50))
        _flush(gateway)
    assert _outcomes(answers) == {200: 2, (429, "insufficient_quota"): 48}
    assert len(fake_openai.chat_requests()) == 2  # the refused ones never reached the upstream
    spent = spend_store(moto_endpoint, dynamodb_tables).current_spend(key_id, "monthly", time.time())
    assert spent == pytest.approx(4.0)  # no overshoot: within the $5 budget


def test_the_budget_holds_across_two_gateway_processes(
    fake_openai: FakeOpenAI, moto_endpoint: str, dynamodb_tables: dict[str, str]
) -> None:
    fake_openai.default = Reply(usage=USAGE_100, delay=0.2)
    secret, key_id = make_key(key_store(moto_endpoint, dynamodb_tables), now=time.time(), budget_usd=5.0)
    with gateway_processes(_config(fake_openai), moto_endpoint, dynamodb_tables, count=2) as (a, b):
        body = {"model": "gpt-test", "messages": HELLO, "max_tokens": 100}
        answers = asyncio.run(_burst([a.base_url, b.base_url], secret, body, 50))
        assert a.stop() and b.stop()  # shutdown writes what each holds
    assert _outcomes(answers) == {200: 2, (429, "insufficient_quota"): 48}
    spend = spend_store(moto_endpoint, dynamodb_tables)
    assert spend.current_spend(key_id, "monthly", time.time()) == pytest.approx(4.0)
    assert len(usage_records(spend, key_id, time.time() - 600, time.time() + 60)) == 2


def test_the_budget_check_sees_every_answered_request_while_another_key_keeps_the_writer_busy(
    fake_openai: FakeOpenAI, moto_endpoint: str, dynamodb_tables: dict[str, str]
) -> None:
    # $0.002 a request (100 completion tokens at $20/M), a $0.02 budget: exactly 10 fit
    fake_openai.default = Reply(usage=USAGE_100)
    store = key_store(moto_endpoint, dynamodb_tables)
    secret, _ = make_key(store, now=time.time(), budget_usd=0.02)
    busy, _ = make_key(store, now=time.time(), owner="busy")
    config = _config(fake_openai)
    config["tenants"]["prices"] = {"gpt-test": {"input": 0, "output": 20}}
    body = {"model": "gpt-test", "messages": HELLO, "max_tokens": 100}
    with running_gateway(config, env=dynamodb_tables, aws_clients=aws_clients(moto_endpoint)) as gateway:
        stop = threading.Event()

        def keep_busy() -> None:
            while not stop.is_set():
                asyncio.run(_burst([gateway.base_url], busy, body, 30))

        other = threading.Thread(target=keep_busy)
        other.start()
        try:
            statuses = [
                httpx.post(
                    f"{gateway.base_url}/v1/chat/completions",
                    json=body,
                    headers={"authorization": f"Bearer {secret}"},
                    timeout=60,
                ).status_code
                for _ in range(40)
            ]
        finally:
            stop.set()
            other.join()
    assert statuses == [200] * 10 + [429] * 30


def test_the_spend_report_right_after_a_burst_counts_every_answer(
    fake_openai: FakeOpenAI, moto_endpoint: str, dynamodb_tables: dict[str, str]
) -> None:
    fake_openai.default = Reply(usage=USAGE_100)
    config = _config(fake_openai)
    config["tenants"]["prices"] = {"gpt-test": {"input": 0, "output": 20}}
    with running_gateway(config, env=dynamodb_tables, aws_clients=aws_clients(moto_endpoint)) as gateway:
        answers = asyncio.run(_burst([gateway.base_url], MASTER_KEY, {"model": "gpt-test", "messages": HELLO}, 300))
        assert _outcomes(answers) == {200: 300}
        report = httpx.get(
            f"{gateway.base_url}/v1/spend", headers={"authorization": f"Bearer {MASTER_KEY}"}, timeout=30
        ).json()
    assert report["total_requests"] == 300
    assert report["total_cost_usd"] == pytest.approx(300 * 0.002)
    assert report["freshness"]["other_instances_within_seconds"] == 1.0
    assert set(report["freshness"]["unflushed_included"]) == {"requests", "cost_usd"}
