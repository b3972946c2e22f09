"""The admin CLI against DynamoDB on moto (``--endpoint-url`` and the environment), then the gateway."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
from typing import Any

import httpx
import pytest

from llm_gateway.cli.main import main
from tests.support.fake_openai import FakeOpenAI
from tests.support.gateway import MASTER_KEY, openai_config, running_gateway
from tests.support.tenants import ManualClock, aws_clients, priced_config

pytestmark = pytest.mark.slow


def _run(argv: list[str], env: dict[str, str], clock: ManualClock | None = None) -> Any:
    out = io.StringIO()
    code = main(["--json", *argv], env=env, clock=clock or time.time, out=out)
    assert code == 0
    return json.loads(out.getvalue())


def test_create_list_rotate_revoke(
    moto_endpoint: str, dynamodb_tables: dict[str, str], fake_openai: FakeOpenAI
) -> None:
    env = {**dynamodb_tables, "AWS_ENDPOINT_URL_DYNAMODB": moto_endpoint}
    clock = ManualClock(now=time.time())
    created = _run(
        [
            "keys", "create", "--owner", "alice", "--models", "gpt-test", "--rpm", "60", "--tpm", "10000",
            "--budget", "5", "--period", "daily", "--expires", "30d", "--metadata", "team=search",
            "--guardrails", "pii_redaction",
        ],
        env,
        clock,
    )  # fmt: skip
    secret, key_id = created["key"], created["key_id"]
    assert secret.startswith("sk-lg-") and len(secret) > 40
    assert created["prefix"] == secret[:10]
    assert created["models"] == ["gpt-test"]
    assert (created["rpm"], created["tpm"], created["budget_usd"]) == (60, 10000, 5.0)
    assert created["expires_at"] == clock() + 30 * 86400
    assert created["metadata"] == {"team": "search"}

    listed = _run(["keys", "list"], env)
    assert [k["key_id"] for k in listed] == [key_id]
    assert secret not in json.dumps(listed)

    with running_gateway(
        priced_config(openai_config(fake_openai.v1), key_cache_seconds=0),  # each change applies at once
        env=dynamodb_tables,
        aws_clients=aws_clients(moto_endpoint),
    ) as gw:
        url = f"{gw.base_url}/v1/chat/completions"
        body = {"model": "gpt-test", "messages": [{"role": "user", "content": "write to jo@example.com"}]}
        answer = httpx.post(url, json=body, headers={"authorization": f"Bearer {secret}"})
        assert answer.status_code == 200
        assert answer.headers["x-llm-gateway-guardrails"] == "pii_redaction:redacted=1"  # the key's default

        updated = _run(["keys", "update", key_id, "--rpm", "0", "--budget", "50", "--guardrails", ""], env)
        assert (updated["rpm"], updated["budget_usd"], updated["guardrails"]) == (None, 50.0, [])
        answer = httpx.post(url, json=body, headers={"authorization": f"Bearer {secret}"})
        assert "x-llm-gateway-guardrails" not in answer.headers
        assert "x-ratelimit-limit-tokens" in answer.headers and "x-ratelimit-limit-requests" not in answer.headers

        rotated = _run(["keys", "rotate", key_id, "--grace", "0"], env)
        assert rotated["key_id"] == key_id and rotated["key"] != secret
        assert httpx.post(url, json=body, headers={"authorization": f"Bearer {secret}"}).status_code == 401
        assert httpx.post(url, json=body, headers={"authorization": f"Bearer {rotated['key']}"}).status_code == 200

        revoked = _run(["keys", "revoke", key_id], env)
        assert revoked["revoked_at"] is not None
        assert httpx.post(url, json=body, headers={"authorization": f"Bearer {rotated['key']}"}).status_code == 401
        asyncio_flush(gw)

    report = _run(
        ["--usage-table", dynamodb_tables["LLM_GATEWAY_USAGE_TABLE"], "spend", "report", "--period", "total"], env
    )
    assert report["total_requests"] == 3
    assert {row["key_id"] for row in report["data"]} == {key_id}
    assert _run(["keys", "list", "--all"], env)[0]["key_id"] == key_id


def asyncio_flush(server: Any) -> None:
    import asyncio

    asyncio.run_coroutine_threadsafe(server.gateway.tenants.flush_usage(), server.loop).result(timeout=30)


def test_errors_are_clear(
    moto_endpoint: str, dynamodb_tables: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    env = {"AWS_ENDPOINT_URL_DYNAMODB": moto_endpoint}
    assert main(["keys", "list"], env=env) == 2
    assert "LLM_GATEWAY_KEYS_TABLE" in capsys.readouterr().err
    env.update(dynamodb_tables)
    assert main(["keys", "revoke", "key_missing"], env=env) == 1
    assert "no key with id 'key_missing'" in capsys.readouterr().err
    assert main(["keys", "create", "--owner", "x", "--expires", "soon"], env=env) == 2


def test_runs_as_a_module(moto_endpoint: str, dynamodb_tables: dict[str, str]) -> None:
    table = dynamodb_tables["LLM_GATEWAY_KEYS_TABLE"]
    created = subprocess.run(
        [sys.executable, "-m", "llm_gateway.cli", "--endpoint-url", moto_endpoint, "--region", "us-east-1",
         "--table", table, "keys", "create", "--owner", "bob"],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    assert "key: sk-lg-" in created.stdout
    assert "not shown again" in created.stdout
    listed = subprocess.run(
        [sys.executable, "-m", "llm_gateway.cli", "--endpoint-url", moto_endpoint, "--region", "us-east-1",
         "--table", table, "keys", "list"],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    assert "bob" in listed.stdout and "sk-lg-" in listed.stdout  # the display prefix only
    assert created.stdout.split("key: ")[1].split()[0] not in listed.stdout


def test_spend_endpoint(fake_openai: FakeOpenAI, moto_endpoint: str, dynamodb_tables: dict[str, str]) -> None:
    env = {**dynamodb_tables, "AWS_ENDPOINT_URL_DYNAMODB": moto_endpoint}
    alice = _run(["keys", "create", "--owner", "alice"], env)
    bob = _run(["keys", "create", "--owner", "bob"], env)
    with running_gateway(
        priced_config(openai_config(fake_openai.v1)), env=dynamodb_tables, aws_clients=aws_clients(moto_endpoint)
    ) as gw:
        url = f"{gw.base_url}/v1/chat/completions"
        body = {"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]}
        for key in (alice["key"], alice["key"], bob["key"]):
            assert httpx.post(url, json=body, headers={"authorization": f"Bearer {key}"}).status_code == 200
        asyncio_flush(gw)
        own = httpx.get(f"{gw.base_url}/v1/spend?period=daily", headers={"authorization": f"Bearer {alice['key']}"})
        assert own.status_code == 200
        report = own.json()
        assert report["key_id"] == alice["key_id"]
        assert report["data"][0]["requests"] == 2
        assert report["total_cost_usd"] > 0
        other = httpx.get(
            f"{gw.base_url}/v1/spend?key_id={bob['key_id']}", headers={"authorization": f"Bearer {alice['key']}"}
        )
        assert other.status_code == 403
        everyone = httpx.get(
            f"{gw.base_url}/v1/spend?period=monthly", headers={"authorization": f"Bearer {MASTER_KEY}"}
        )
        assert {row["key_id"] for row in everyone.json()["data"]} == {alice["key_id"], bob["key_id"]}
        assert everyone.json()["total_requests"] == 3
        bad = httpx.get(f"{gw.base_url}/v1/spend?period=yearly", headers={"authorization": f"Bearer {MASTER_KEY}"})
        assert bad.status_code == 400
        assert httpx.get(f"{gw.base_url}/v1/spend").status_code == 401
