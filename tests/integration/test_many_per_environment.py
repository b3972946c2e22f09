"""One execution environment serving many requests at once, as on Lambda Managed Instances.

The built artifact's run.sh runs with the variables Lambda sets on a managed-instances environment (4 GB
at 2 GiB per vCPU: two uvicorn workers). The Web Adapter forwards each concurrent invocation as its own
HTTP request with its own context headers, which is what these clients send. What assumed one request per
environment must hold with many: each request's deadline comes from its own invocation, each log line and
metrics document carries its own request's ids, bookkeeping deferred to a quiet loop is all written, and
a shutdown (SIGTERM, as Lambda sends when it scales in) leaves nothing unwritten.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.run_sh import RunSh, lwa_headers

pytestmark = pytest.mark.slow

KEY = "sk-managed-instances-test-key"
STREAMS = 24
CONFIG = """
models:
  - name: mock-stream
    provider: mock
    model: mock-1
    chunk_delay_ms: 40
    mock_response: "one two three four five six seven eight"
  - name: mock-slow
    provider: mock
    model: mock-1
    latency_ms: 2500
"""
MANAGED_ENVIRONMENT = {
    "AWS_LAMBDA_FUNCTION_NAME": "llm-gateway-ManagedGatewayFunction",
    "AWS_LAMBDA_INITIALIZATION_TYPE": "lambda-managed-instances",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "4096",
    "LLM_GATEWAY_MEMORY_PER_VCPU": "2",
}


@pytest.fixture(scope="module")
def environment(host_build: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunSh]:
    tmp = tmp_path_factory.mktemp("managed")
    config = tmp / "config.yaml"
    config.write_text(CONFIG)
    server = RunSh(host_build, config, tmp, key=KEY, function="ManagedGatewayFunction", env=MANAGED_ENVIRONMENT)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


def _workers(pid: int) -> list[int]:
    """uvicorn's worker processes under ``pid`` (multiprocessing's resource tracker is not one)."""
    children = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        children += [int(c) for c in (task / "children").read_text().split()]
    return [c for c in children if b"resource_tracker" not in Path(f"/proc/{c}/cmdline").read_bytes()]


async def _stream(client: httpx.AsyncClient, api_id: str, fn_id: str) -> str:
    body = {"model": "mock-stream", "messages": [{"role": "user", "content": "go"}], "stream": True}
    text = ""
    async with client.stream("POST", "/v1/chat/completions", json=body, headers=lwa_headers(KEY, api_id, fn_id)) as r:
        assert r.status_code == 200
        async for line in r.aiter_lines():
            if line.startswith("data:") and line != "data: [DONE]":
                chunk = json.loads(line[5:])
                if chunk["choices"]:
                    text += chunk["choices"][0]["delta"].get("content") or ""
    return text


def test_two_workers_serve_concurrent_streams_each_logged_and_measured_with_its_own_ids(environment: RunSh) -> None:
    assert len(_workers(environment.process.pid)) == 2  # 4096 MB / 2 GiB per vCPU
    ids = [(str(uuid.uuid4()), str(uuid.uuid4())) for _ in range(STREAMS)]

    async def run() -> list[str]:
        async with httpx.AsyncClient(base_url=environment.base_url, timeout=30) as client:
            return await asyncio.gather(*(_stream(client, api, fn) for api, fn in ids))

    texts = asyncio.run(run())
    assert texts == ["one two three four five six seven eight"] * STREAMS
    for api_id, fn_id in ids:
        log = environment.wait_for_json(
            lambda d, a=api_id: d.get("correlation_id") == a and d.get("message") == "request"
        )
        assert log["function_request_id"] == fn_id and log["stream_status"] == "complete"
        emf = environment.wait_for_json(lambda d, a=api_id: "_aws" in d and d.get("correlation_id") == a)
        assert emf["model"] == "mock-stream" and emf["Requests"] in (1, [1])  # Powertools writes value lists


def test_each_request_runs_to_its_own_invocation_deadline(environment: RunSh) -> None:
    """Two requests at once in one environment: the one whose invocation ends soon is cut at its deadline
    (less the router's margin) and answered with a timeout; the other, on the same model, completes."""
    body = {"model": "mock-slow", "messages": [{"role": "user", "content": "slow"}]}
    short, long = str(uuid.uuid4()), str(uuid.uuid4())

    async def run() -> tuple[httpx.Response, httpx.Response]:
        async with httpx.AsyncClient(base_url=environment.base_url, timeout=30) as client:
            soon = client.post(
                "/v1/chat/completions", json=body, headers=lwa_headers(KEY, short, short, deadline_in=1.5)
            )
            later = client.post("/v1/chat/completions", json=body, headers=lwa_headers(KEY, long, long))
            first, second = await asyncio.gather(soon, later)
            return first, second

    started = time.monotonic()
    cut, done = asyncio.run(run())
    assert cut.status_code == 504, cut.text
    assert cut.json()["error"]["code"] == "upstream_timeout"
    assert "deadline" in cut.json()["error"]["message"]
    assert done.status_code == 200
    assert done.json()["choices"][0]["message"]["content"]
    assert time.monotonic() - started >= 2.5  # the long one really waited for its answer
    cut_log = environment.wait_for_json(lambda d: d.get("correlation_id") == short and d.get("message") == "request")
    assert cut_log["status"] == 504


def test_a_shutdown_leaves_no_request_unwritten(host_build: Path, tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG)
    server = RunSh(host_build, config, tmp_path, key=KEY, function="ManagedGatewayFunction", env=MANAGED_ENVIRONMENT)
    ids = [str(uuid.uuid4()) for _ in range(8)]
    try:
        server.wait_ready()

        async def run() -> list[str]:
            async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
                return await asyncio.gather(*(_stream(client, i, i) for i in ids))

        asyncio.run(run())
        server.process.send_signal(signal.SIGTERM)  # as Lambda does when it scales the environment in
        assert server.process.wait(timeout=30) == 0
    finally:
        server.stop()
    lines: list[dict[str, Any]] = []
    for line in server.output().splitlines():
        if line.startswith("{"):
            try:
                lines.append(json.loads(line))
            except ValueError:
                continue
    for request_id in ids:
        assert any(d.get("correlation_id") == request_id and d.get("message") == "request" for d in lines)
        assert any(d.get("correlation_id") == request_id and "_aws" in d for d in lines)
