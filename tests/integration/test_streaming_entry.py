"""The streaming entry point run as the Lambda Web Adapter runs it: `run.sh` (uvicorn on $PORT) from the
built artifact, python3.13, the layer as /opt/python (tests/support/run_sh.py). Requests carry the context
headers LWA adds."""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.support.fake_openai import FakeOpenAI, Reply
from tests.support.run_sh import RunSh
from tests.support.run_sh import lwa_headers as adapter_headers
from tests.support.servers import wait_until
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


def lwa_headers(api_request_id: str, lambda_request_id: str) -> dict[str, str]:
    return adapter_headers(KEY, api_request_id, lambda_request_id)


@pytest.fixture(scope="module")
def run_sh(host_build: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunSh]:
    tmp = tmp_path_factory.mktemp("run-sh")
    config = tmp / "config.yaml"
    config.write_text(CONFIG)
    server = RunSh(host_build, config, tmp, key=KEY)
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
    server = RunSh(host_build, config, tmp_path, key=KEY)
    try:
        server.process.wait(timeout=60)
        output = server.output()
    finally:
        server.stop()
    assert server.process.returncode != 0
    assert "ConfigError" in output and "no-such-provider" in output, output[-3000:]


def test_run_sh_cancels_a_stream_left_before_its_first_chunk_and_bounds_a_slow_head(
    host_build: Path, tmp_path: Path, fake_openai: FakeOpenAI
) -> None:
    """As the adapter runs it: a stream whose connection closes while the upstream still holds its first
    chunk is cancelled (the upstream sees its connection closed, the request is logged 499); a request
    head that never ends gets a 408 and is closed (``server.header_timeout``)."""
    release = threading.Event()
    fake_openai.default = Reply(text="too late", hold_first_chunk=release)
    config = tmp_path / "config.yaml"
    config.write_text(
        "models:\n  - name: thinker\n    provider: openai\n    model: fake-model\n"
        f"    api_base: {fake_openai.v1}\n    api_key: sk-upstream-test\n"
        "server:\n  header_timeout: 1\n"
    )
    server = RunSh(host_build, config, tmp_path, key=KEY)
    try:
        server.wait_ready()
        api_request_id = str(uuid.uuid4())
        headers = {**lwa_headers(api_request_id, str(uuid.uuid4())), "content-type": "application/json"}
        body = json.dumps(_stream_body("thinker")).encode()
        head = f"POST /v1/chat/completions HTTP/1.1\r\nhost: gw\r\ncontent-length: {len(body)}\r\n"
        head += "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
        sock.sendall(head.encode() + b"\r\n" + body)
        wait_until(fake_openai.chat_requests)  # the upstream is thinking
        sock.close()  # the adapter drops its connection
        wait_until(lambda: fake_openai.chat_requests()[-1].client_gone_at)
        assert fake_openai.chat_requests()[-1].outcome != "completed"
        log = server.wait_for_json(
            lambda d: d.get("correlation_id") == api_request_id and d.get("message") == "request"
        )
        assert (log["status"], log["error_code"]) == (499, "client_disconnected")

        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as slow:
            slow.sendall(b"GET /v1/models HTTP/1.1\r\nhost: gw\r\n")  # ... and no more
            answer = b""
            while piece := slow.recv(65536):
                answer += piece
        assert answer.startswith(b"HTTP/1.1 408 ") and b'"code":"request_timeout"' in answer
    finally:
        release.set()
        server.stop()
