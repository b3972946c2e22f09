"""The streaming entry point run as the Lambda Web Adapter runs it: `run.sh` (uvicorn on $PORT) from the
built artifact, python3.13, the layer as /opt/python. Requests carry the context headers LWA adds."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.support.lambda_runtime import python313
from tests.support.servers import free_socket
from tests.support.sse import SSEMessage, assemble, check_stream

pytestmark = pytest.mark.slow

KEY = "sk-run-sh-test-key"
CHUNK_DELAY_MS = 60
ANSWER = " ".join(f"word{i}" for i in range(20))
CONFIG = f"""
models:
  - name: mock-slow
    provider: mock
    model: mock-1
    chunk_delay_ms: {CHUNK_DELAY_MS}
    mock_response: "{ANSWER}"
"""


class RunSh:
    """handlers/run.sh of a build, as a child process; its stdout lines are collected as they come."""

    def __init__(self, build: Path, config: Path, tmp: Path) -> None:
        sock = free_socket()
        self.port = sock.getsockname()[1]
        sock.close()
        self.base_url = f"http://127.0.0.1:{self.port}"
        function_dir = build / "GatewayFunction"
        env = {
            "PATH": f"{Path(python313()).parent}:{os.environ['PATH']}",
            "HOME": str(tmp),
            "LANG": "C.UTF-8",
            "PORT": str(self.port),
            "LAMBDA_TASK_ROOT": str(function_dir),
            "PYTHONPATH": str(build / "SharedLayer" / "python"),  # stands in for the layer's /opt/python
            "PYTHONNOUSERSITE": "1",
            "LLM_GATEWAY_CONFIG": str(config),
            "LLM_GATEWAY_MASTER_KEY_REF": KEY,
            "LLM_GATEWAY_OBSERVABILITY": "powertools",
            "POWERTOOLS_SERVICE_NAME": "llm-gateway",
            "POWERTOOLS_METRICS_NAMESPACE": "LlmGateway",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
        self.process = subprocess.Popen(
            ["bash", str(function_dir / "run.sh")],
            cwd=function_dir,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))

    def wait_ready(self, timeout: float = 60) -> None:
        """Poll /health like the adapter's readiness check."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"run.sh exited with {self.process.returncode}:\n{self.output()}")
            try:
                if httpx.get(self.base_url + "/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"not ready after {timeout}s:\n{self.output()}")

    def output(self) -> str:
        self._drain()
        return "\n".join(self.seen)

    def _drain(self) -> None:
        while True:
            try:
                self.seen.append(self.lines.get_nowait())
            except queue.Empty:
                return

    def has_logged(self, predicate: Any) -> bool:
        """Whether a JSON line matching ``predicate`` has come on stdout by now (no waiting)."""
        self._drain()
        return any(line.startswith("{") and predicate(_json_or_none(line)) for line in self.seen)

    def wait_for_json(self, predicate: Any, timeout: float = 20) -> dict[str, Any]:
        """The first JSON line on stdout (seen so far or arriving within ``timeout``) matching ``predicate``."""
        deadline = time.monotonic() + timeout
        index = 0
        while True:
            self._drain()
            for line in self.seen[index:]:
                index += 1
                if line.startswith("{"):
                    try:
                        document = json.loads(line)
                    except ValueError:
                        continue
                    if predicate(document):
                        return document
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no matching line within {timeout}s:\n{self.output()[-4000:]}")
            with contextlib.suppress(queue.Empty):
                self.seen.append(self.lines.get(timeout=min(remaining, 0.2)))

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def _json_or_none(line: str) -> Any:
    try:
        return json.loads(line)
    except ValueError:
        return {}


def lwa_headers(api_request_id: str, lambda_request_id: str) -> dict[str, str]:
    """The headers the Lambda Web Adapter adds to each request it forwards."""
    request_context = {
        "requestId": api_request_id,
        "stage": "prod",
        "apiId": "7x2kq9d3lb",
        "resourcePath": "/v1/{proxy+}",
    }
    lambda_context = {"request_id": lambda_request_id, "deadline": int(time.time() * 1000) + 900_000}
    return {
        "authorization": f"Bearer {KEY}",
        "x-amzn-request-context": json.dumps(request_context),
        "x-amzn-lambda-context": json.dumps(lambda_context),
    }


@pytest.fixture(scope="module")
def run_sh(host_build: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunSh]:
    tmp = tmp_path_factory.mktemp("run-sh")
    config = tmp / "config.yaml"
    config.write_text(CONFIG)
    server = RunSh(host_build, config, tmp)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


def _stream_body(model: str = "mock-slow") -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": "count"}], "stream": True}


def test_run_sh_streams_incrementally_with_request_ids_in_logs_and_metrics(run_sh: RunSh) -> None:
    api_request_id, lambda_request_id = str(uuid.uuid4()), str(uuid.uuid4())

    def request_line(d: dict[str, Any]) -> bool:
        return d.get("correlation_id") == api_request_id and d.get("message") == "request"

    messages: list[SSEMessage] = []
    logged_before_the_first_word: bool | None = None
    with httpx.stream(
        "POST",
        run_sh.base_url + "/v1/chat/completions",
        json=_stream_body(),
        headers=lwa_headers(api_request_id, lambda_request_id),
        timeout=30,
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("data:"):
                messages.append(SSEMessage(line[5:].strip(), time.monotonic()))
                if logged_before_the_first_word is None and "word0" in line:
                    logged_before_the_first_word = run_sh.has_logged(request_line)
    chunks, error = check_stream(messages)
    assert error is None
    assert assemble(chunks)[0]["content"] == ANSWER
    assert len(chunks) >= 15
    # Incremental: the client has the first word while the gateway, 19 words from the end, has not yet
    # finished the stream (its request line comes at the end).
    assert logged_before_the_first_word is False

    log = run_sh.wait_for_json(request_line)
    assert log["function_request_id"] == lambda_request_id
    assert log["service"] == "llm-gateway" and log["level"] == "INFO"
    assert log["stream_status"] == "complete" and log["status"] == 200
    emf = run_sh.wait_for_json(lambda d: "_aws" in d and d.get("correlation_id") == api_request_id)
    names = {m["Name"] for m in emf["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert {"Requests", "Latency", "TimeToFirstToken", "CompletionTokens"} <= names
    assert emf["model"] == "mock-slow" and emf["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "LlmGateway"


def test_openai_sdk_streams_through_run_sh(run_sh: RunSh) -> None:
    client = openai.OpenAI(base_url=run_sh.base_url + "/v1", api_key=KEY, max_retries=0, timeout=30)
    stream = client.chat.completions.create(
        model="mock-slow", messages=[{"role": "user", "content": "count"}], stream=True
    )
    text = ""
    for chunk in stream:
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
    assert text == ANSWER  # arriving word by word is the test above's


def test_metrics_are_flushed_when_the_client_goes_away_mid_stream(run_sh: RunSh) -> None:
    api_request_id = str(uuid.uuid4())
    with httpx.stream(
        "POST",
        run_sh.base_url + "/v1/chat/completions",
        json=_stream_body(),
        headers=lwa_headers(api_request_id, str(uuid.uuid4())),
        timeout=30,
    ) as response:
        for line in response.iter_lines():
            if line.startswith("data:"):
                break  # leave after the first chunk: the connection closes here
    emf = run_sh.wait_for_json(lambda d: "_aws" in d and d.get("correlation_id") == api_request_id)
    names = {m["Name"] for m in emf["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert "StreamsAborted" in names
    log = run_sh.wait_for_json(lambda d: d.get("correlation_id") == api_request_id and d.get("message") == "request")
    assert log["stream_status"] == "client_disconnected"


def test_invalid_config_stops_the_function_at_start_up(host_build: Path, tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("models:\n  - name: broken\n    provider: no-such-provider\n    model: x\n")
    server = RunSh(host_build, config, tmp_path)
    try:
        server.process.wait(timeout=60)
        output = server.output()
    finally:
        server.stop()
    assert server.process.returncode != 0
    assert "ConfigError" in output and "no-such-provider" in output, output[-3000:]
