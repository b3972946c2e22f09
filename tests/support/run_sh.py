"""handlers/run.sh of a SAM build run as the Lambda Web Adapter runs it: python3.13, the layer as
/opt/python, uvicorn on $PORT, stdout collected line by line; and the headers the adapter adds."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import subprocess
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from tests.support.lambda_runtime import python313
from tests.support.servers import free_socket


class RunSh:
    """handlers/run.sh of a build, as a child process; its stdout lines are collected as they come."""

    def __init__(
        self,
        build: Path,
        config: Path,
        tmp: Path,
        *,
        key: str,
        function: str = "GatewayFunction",
        env: Mapping[str, str] | None = None,
    ) -> None:
        sock = free_socket()
        self.port = sock.getsockname()[1]
        sock.close()
        self.base_url = f"http://127.0.0.1:{self.port}"
        function_dir = build / function
        env = {
            "PATH": f"{Path(python313()).parent}:{os.environ['PATH']}",
            "HOME": str(tmp),
            "LANG": "C.UTF-8",
            "PORT": str(self.port),
            "LAMBDA_TASK_ROOT": str(function_dir),
            "PYTHONPATH": str(build / "SharedLayer" / "python"),  # stands in for the layer's /opt/python
            "PYTHONNOUSERSITE": "1",
            "LLM_GATEWAY_CONFIG": str(config),
            "LLM_GATEWAY_MASTER_KEY_REF": key,
            "LLM_GATEWAY_OBSERVABILITY": "powertools",
            "POWERTOOLS_SERVICE_NAME": "llm-gateway",
            "POWERTOOLS_METRICS_NAMESPACE": "LlmGateway",
            "AWS_DEFAULT_REGION": "us-east-1",
            **(env or {}),
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


def lwa_headers(key: str, api_request_id: str, lambda_request_id: str, deadline_in: float = 900) -> dict[str, str]:
    """The headers the Lambda Web Adapter adds to each request it forwards (``deadline_in``: seconds)."""
    request_context = {
        "requestId": api_request_id,
        "stage": "prod",
        "apiId": "7x2kq9d3lb",
        "resourcePath": "/v1/{proxy+}",
    }
    lambda_context = {"request_id": lambda_request_id, "deadline": int((time.time() + deadline_in) * 1000)}
    return {
        "authorization": f"Bearer {key}",
        "x-amzn-request-context": json.dumps(request_context),
        "x-amzn-lambda-context": json.dumps(lambda_context),
    }
