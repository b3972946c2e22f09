"""The local run's DynamoDB: embedded (moto in a process of its own, tables from template.yaml) unless the
environment names an endpoint or deployed tables; and none of it on the Lambda import path."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import boto3
import httpx
import pytest

from llm_gateway.config import DEFAULT_CONFIG, parse_config
from llm_gateway.local.dynamodb import local_dynamodb_env, start_embedded_dynamodb
from tests.conftest import ROOT, TEMPLATE
from tests.support.gateway import MASTER_KEY, running_gateway

pytestmark = pytest.mark.slow

TABLES = {"LLM_GATEWAY_CACHE_TABLE", "LLM_GATEWAY_STATE_TABLE", "LLM_GATEWAY_KEYS_TABLE", "LLM_GATEWAY_USAGE_TABLE"}


def test_embedded_dynamodb_makes_the_default_config_cache() -> None:
    additions, embedded = local_dynamodb_env({}, template=TEMPLATE)
    assert embedded is not None
    try:
        assert set(additions) >= TABLES and additions["AWS_ENDPOINT_URL_DYNAMODB"] == embedded.endpoint
        client = boto3.client("dynamodb", endpoint_url=embedded.endpoint, region_name="us-east-1")
        for name in TABLES:  # (moto's state is per process: list_tables would show other tests' tables too)
            assert client.describe_table(TableName=additions[name])["Table"]["TableStatus"] == "ACTIVE"
        ttl = client.describe_time_to_live(TableName=additions["LLM_GATEWAY_CACHE_TABLE"])
        assert ttl["TimeToLiveDescription"]["AttributeName"] == "expires_at"
        body = {"model": "mock", "messages": [{"role": "user", "content": "hello"}], "caching": True}
        with running_gateway(parse_config(DEFAULT_CONFIG), additions) as gateway:
            statuses = []
            for _ in range(2):
                response = httpx.post(
                    gateway.base_url + "/v1/chat/completions",
                    json=body,
                    headers={"authorization": f"Bearer {MASTER_KEY}"},
                    timeout=30,
                )
                assert response.status_code == 200
                statuses.append(response.headers["x-llm-gateway-cache"])
        assert statuses == ["miss", "hit"]
        assert client.scan(TableName=additions["LLM_GATEWAY_CACHE_TABLE"])["Count"] == 1
    finally:
        embedded.stop()


def test_a_given_endpoint_gets_the_tables_and_no_embedded_server(moto_endpoint: str) -> None:
    additions, embedded = local_dynamodb_env(
        {"AWS_ENDPOINT_URL_DYNAMODB": moto_endpoint, "AWS_DEFAULT_REGION": "us-east-1"}, template=TEMPLATE
    )
    assert embedded is None and set(additions) >= TABLES
    client = boto3.client("dynamodb", endpoint_url=moto_endpoint, region_name="us-east-1")
    assert client.describe_table(TableName=additions["LLM_GATEWAY_CACHE_TABLE"])["Table"]["KeySchema"]


def test_deployed_tables_or_opting_out_change_nothing() -> None:
    assert local_dynamodb_env({"LLM_GATEWAY_CACHE_TABLE": "prod-cache"}) == ({}, None)
    assert local_dynamodb_env({"LLM_GATEWAY_EMBEDDED_DYNAMODB": "0"}) == ({}, None)


def test_the_embedded_dynamodb_runs_in_its_own_process_and_ends_with_its_parent() -> None:
    import os
    import signal
    import time

    probe = (
        "import os, sys, time\n"
        "from llm_gateway.local.dynamodb import start_embedded_dynamodb\n"
        f"embedded = start_embedded_dynamodb({str(TEMPLATE)!r}, prefix='probe')\n"
        "print(os.getpid(), embedded._process.pid, embedded.endpoint, flush=True)\n"
        "time.sleep(120)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "shared")}
    parent = subprocess.Popen([sys.executable, "-c", probe], stdout=subprocess.PIPE, text=True, env=env)
    assert parent.stdout is not None
    parent_pid, child_pid, endpoint = parent.stdout.readline().split()
    assert int(child_pid) != int(parent_pid)
    client = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1")
    assert "probe-StateTable" in client.list_tables()["TableNames"]
    parent.send_signal(signal.SIGKILL)  # no clean-up code runs: the child must still go
    parent.wait(10)
    deadline = time.monotonic() + 20
    while Path(f"/proc/{child_pid}").exists() and "Z" not in _state(int(child_pid)):
        assert time.monotonic() < deadline, "the embedded DynamoDB outlived the process that started it"
        time.sleep(0.05)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"


def test_embedded_server_is_reusable() -> None:
    embedded = start_embedded_dynamodb(TEMPLATE, prefix="other-tool")
    try:
        assert embedded.env["LLM_GATEWAY_STATE_TABLE"] == "other-tool-StateTable"
    finally:
        embedded.stop()


def test_lambda_import_path_stays_light() -> None:
    code = (
        "import sys, gateway\n"
        "from llm_gateway.config import DEFAULT_CONFIG, parse_config\n"
        "from llm_gateway.gateway import Gateway, GatewayOptions\n"
        "Gateway(GatewayOptions(config=parse_config(DEFAULT_CONFIG), env={})).ensure_ready()\n"
        "heavy = [m for m in ('boto3', 'botocore', 'moto', 'llm_gateway.local') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    env = {"PYTHONPATH": f"{ROOT / 'shared'}:{ROOT / 'handlers'}", "PATH": "/usr/bin:/bin"}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=ROOT / "handlers", timeout=60)


def test_an_unreachable_endpoint_does_not_stop_a_local_run() -> None:
    additions, embedded = local_dynamodb_env(
        {"AWS_ENDPOINT_URL_DYNAMODB": "http://127.0.0.1:9", "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"},
        template=TEMPLATE,
    )
    assert embedded is None and not TABLES & set(additions)
