"""No usage record and no cent of spend lost (issue 18): after a burst of 10,000 requests, and after SIGTERM
in the middle of a burst, the usage records and the running spend in DynamoDB (moto) equal the answered
requests', with the gateway as a process of its own (``uvicorn gateway:app``)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.fake_openai import FakeOpenAI, Reply
from tests.support.gateway import MASTER_KEY, openai_config
from tests.support.processes import GatewayProcess, gateway_processes
from tests.support.tenants import PRICES, spend_store, usage_records

pytestmark = pytest.mark.slow

USAGE = {"prompt_tokens": 12, "completion_tokens": 34, "total_tokens": 46}
COST = (12 * 2.5 + 34 * 10.0) / 1_000_000


async def _load(url: str, requests: int, concurrency: int = 32, until_refused: bool = False) -> int:
    """``requests`` requests from ``concurrency`` keep-alive clients (a lean HTTP/1.1 client: the test process
    also runs the fake upstream); the number answered with 200. With ``until_refused`` a client stops at its
    first failed connection (the server is going away)."""
    from bench.loadgen import Connection

    answered = 0
    remaining = iter(range(requests))
    body = json.dumps({"model": "gpt-test", "messages": [{"role": "user", "content": "count me"}]}).encode()
    headers = {"authorization": f"Bearer {MASTER_KEY}"}
    host, port = url.removeprefix("http://").split(":")

    async def client_loop() -> None:
        nonlocal answered
        connection = Connection(host, int(port))
        try:
            for _ in remaining:
                try:
                    status, _pieces = await connection.request("/v1/chat/completions", body, headers)
                except (OSError, asyncio.IncompleteReadError):
                    if until_refused:
                        return
                    raise
                assert status == 200, status
                answered += 1
        finally:
            await connection.close()

    await asyncio.gather(*(client_loop() for _ in range(concurrency)))
    return answered


def _totals(moto_endpoint: str, tables: dict[str, str], since: float) -> tuple[int, float, float]:
    """Usage records of the master key since ``since``, and the spend the table holds: (records, cost of the
    records, the month's running spend)."""
    spend = spend_store(moto_endpoint, tables)
    records = usage_records(spend, "master", since, time.time() + 60)
    return len(records), sum(r["cost_usd"] for r in records), spend.current_spend("master", "monthly", time.time())


def _config(fake: FakeOpenAI) -> dict[str, Any]:
    return {**openai_config(fake.v1), "tenants": {"prices": PRICES}, "router": {"num_retries": 0}}


@pytest.fixture
def dynamodb_process() -> Iterator[tuple[str, dict[str, str]]]:
    """DynamoDB (moto) in a process of its own, as ``make serve`` runs it: the endpoint and the table names."""
    from llm_gateway.local.dynamodb import start_embedded_dynamodb

    embedded = start_embedded_dynamodb(prefix="burst")
    try:
        yield embedded.endpoint, {k: v for k, v in embedded.env.items() if k.endswith("_TABLE")}
    finally:
        embedded.stop()


def test_a_burst_of_ten_thousand_requests_loses_nothing(
    fake_openai: FakeOpenAI, dynamodb_process: tuple[str, dict[str, str]]
) -> None:
    fake_openai.default = Reply(usage=USAGE)
    moto_endpoint, dynamodb_tables = dynamodb_process
    since = time.time() - 1
    with gateway_processes(_config(fake_openai), moto_endpoint, dynamodb_tables) as (gateway,):
        answered = asyncio.run(_load(gateway.base_url, 10_000))
        assert gateway.stop()
    assert answered == 10_000
    records, recorded_cost, spent = _totals(moto_endpoint, dynamodb_tables, since)
    assert records == 10_000
    assert recorded_cost == pytest.approx(10_000 * COST, abs=1e-6)
    assert spent == pytest.approx(10_000 * COST, abs=1e-6)


def test_sigterm_in_the_middle_of_a_burst_loses_nothing(
    fake_openai: FakeOpenAI, moto_endpoint: str, dynamodb_tables: dict[str, str]
) -> None:
    fake_openai.default = Reply(usage=USAGE, delay=0.01)
    since = time.time() - 1
    with gateway_processes(_config(fake_openai), moto_endpoint, dynamodb_tables) as (gateway,):

        async def burst_then_sigterm(gateway: GatewayProcess) -> int:
            load = asyncio.ensure_future(_load(gateway.base_url, 5_000, until_refused=True))
            while len(fake_openai.chat_requests()) < 500:  # well into the burst, requests in flight
                await asyncio.sleep(0.01)
            gateway.process.terminate()
            return await load

        answered = asyncio.run(burst_then_sigterm(gateway))
        assert gateway.stop()
    assert 500 <= answered < 5_000
    records, recorded_cost, spent = _totals(moto_endpoint, dynamodb_tables, since)
    assert records == answered
    assert recorded_cost == pytest.approx(answered * COST, abs=1e-6)
    assert spent == pytest.approx(answered * COST, abs=1e-6)
