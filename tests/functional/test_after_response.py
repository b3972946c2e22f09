"""A request's access line and usage record are written after its answer, over a real socket.

The gateway answers first and writes its bookkeeping once the event loop is quiet; whatever reads it (the
spend report, a budget check) still sees every request already answered, and shutdown writes what is left.
Under Lambda it is written before answering, as the process may be frozen right after.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import httpx
import pytest

from llm_gateway.tables.base import Tables
from llm_gateway.tables.memory import MemoryTable
from llm_gateway.tenants.keystore import KeyStore
from tests.support.fake_openai import FakeOpenAI
from tests.support.gateway import MASTER_KEY, openai_config, running_gateway
from tests.support.openai_schema import assert_error
from tests.support.servers import UvicornThread, wait_until
from tests.support.tenants import make_key, priced_config, usage_records

pytestmark = pytest.mark.slow

BODY = {"model": "gpt-test", "messages": [{"role": "user", "content": "hello"}]}


def _ask(server: UvicornThread, key: str = MASTER_KEY, **extra: Any) -> httpx.Response:
    headers = {"authorization": f"Bearer {key}"}
    return httpx.post(f"{server.base_url}/v1/chat/completions", json={**BODY, **extra}, headers=headers, timeout=30)


def _access(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [r.fields for r in caplog.records if r.name == "llm_gateway.access"]  # type: ignore[attr-defined]


def _records(server: UvicornThread, key_id: str = "master") -> list[dict[str, Any]]:
    """The usage records in the table, once the ledger has written what it holds."""
    tenants = server.gateway.tenants  # type: ignore[attr-defined]
    assert server.loop is not None
    asyncio.run_coroutine_threadsafe(tenants.ledger.flush(), server.loop).result(timeout=30)
    return list(usage_records(tenants.spend, key_id, 0, time.time() + 60))


def _hold(server: UvicornThread) -> None:
    """Nothing queued is written by itself (the loop is never quiet for that long) until :func:`_let_go`."""
    afterwards = server.gateway.afterwards  # type: ignore[attr-defined]
    afterwards.quiet = afterwards.max_delay = 3600


def _let_go(server: UvicornThread) -> None:
    server.loop.call_soon_threadsafe(server.gateway.afterwards.flush)  # type: ignore[attr-defined,union-attr]


def test_bookkeeping_follows_the_answer_and_keeps_the_latency_of_the_answer(
    fake_openai: FakeOpenAI, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="llm_gateway")
    with running_gateway(priced_config(openai_config(fake_openai.v1))) as server:
        _hold(server)
        seen_ms = []  # each request as its client saw it, from sending to the whole answer
        for stream in (False, True):
            started = time.monotonic()
            assert _ask(server, stream=stream).status_code == 200
            seen_ms.append((time.monotonic() - started) * 1000)
        assert _access(caplog) == [] and _records(server) == []  # answered; the bookkeeping waits
        _let_go(server)
        wait_until(lambda: len(_access(caplog)) == 2)
        lines, records = _access(caplog), _records(server)
    assert [(line["status"], line["cost_usd"] > 0) for line in lines] == [(200, True)] * 2
    # The latency of the answer, within what its client saw; had it been taken when the line was
    # written (after both answers), it would exceed it.
    assert [line["latency_ms"] <= seen for line, seen in zip(lines, seen_ms, strict=True)] == [True, True]
    by_stream = sorted((r["stream"], r["status"], r["latency_ms"]) for r in records)
    assert [(stream, status) for stream, status, _ in by_stream] == [(False, "ok"), (True, "ok")]
    assert [latency <= seen for (_, _, latency), seen in zip(by_stream, seen_ms, strict=True)] == [True, True]


def test_the_spend_report_counts_requests_answered_a_moment_ago(fake_openai: FakeOpenAI) -> None:
    with running_gateway(priced_config(openai_config(fake_openai.v1))) as server:
        _hold(server)
        assert _ask(server).status_code == 200
        report = httpx.get(f"{server.base_url}/v1/spend", headers={"authorization": f"Bearer {MASTER_KEY}"}).json()
    assert report["total_requests"] == 1 and report["total_cost_usd"] > 0


def test_a_budget_check_counts_requests_answered_a_moment_ago(fake_openai: FakeOpenAI) -> None:
    keys = MemoryTable()
    # room for one request's worst case (its prompt's bytes at $2.5/M, 10 completion tokens at $10/M), not two
    secret, _ = make_key(KeyStore(keys), now=time.time(), budget_usd=0.00025)
    with running_gateway(priced_config(openai_config(fake_openai.v1)), tables=Tables(keys=keys)) as server:
        _hold(server)
        assert _ask(server, secret, max_tokens=10).status_code == 200  # its bookkeeping still waits
        refused = _ask(server, secret, max_tokens=10)
    assert refused.status_code == 429
    assert assert_error(refused.json())["error"]["code"] == "insufficient_quota"


def test_shutdown_writes_what_is_still_queued(fake_openai: FakeOpenAI, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="llm_gateway")
    with running_gateway(openai_config(fake_openai.v1)) as server:
        _hold(server)
        assert _ask(server).status_code == 200
        assert _access(caplog) == []
    assert [line["status"] for line in _access(caplog)] == [200]


def test_under_lambda_bookkeeping_is_written_before_the_answer(
    fake_openai: FakeOpenAI, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="llm_gateway")
    env = {"AWS_LAMBDA_FUNCTION_NAME": "llm-gateway"}
    with running_gateway(openai_config(fake_openai.v1), env=env) as server:
        assert _ask(server).status_code == 200
        assert [line["status"] for line in _access(caplog)] == [200]
        assert [r["status"] for r in _records(server)] == ["ok"]
