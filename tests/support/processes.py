"""The gateway as a process of its own (``uvicorn gateway:app``, as the Lambda Web Adapter and ``make serve``
run it), pointed at a moto endpoint and its tables: for tests that need several gateway processes sharing
one DynamoDB, or a signal sent to a gateway."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from llm_gateway.api.slow_clients import SHIPPED_HTTP
from tests.support.gateway import MASTER_KEY
from tests.support.servers import free_port

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class GatewayProcess:
    process: subprocess.Popen[bytes]
    base_url: str
    log: Path

    def stop(self, timeout: float = 30) -> bool:
        """SIGTERM, as Lambda and uvicorn's supervisor send it; whether the process then ended as uvicorn
        ends after a graceful shutdown (it raises the signal again once the app has shut down)."""
        if self.process.poll() is None:
            self.process.terminate()
        return self.process.wait(timeout) in (0, -signal.SIGTERM)


def _wait_ready(gateway: GatewayProcess, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if gateway.process.poll() is not None:
            raise RuntimeError(f"the gateway exited at start-up:\n{gateway.log.read_text()[-3000:]}")
        try:
            if httpx.get(gateway.base_url + "/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"the gateway did not come up:\n{gateway.log.read_text()[-3000:]}")


@contextmanager
def gateway_processes(
    config: dict[str, Any], moto_endpoint: str, tables: dict[str, str], count: int = 1, **env: str
) -> Iterator[list[GatewayProcess]]:
    """``count`` gateway processes serving ``config``, sharing the tables on ``moto_endpoint``."""
    folder = Path(tempfile.mkdtemp(prefix="gateway-processes-"))
    config_file = folder / "config.yaml"
    config_file.write_text(json.dumps(config))  # JSON is YAML
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("LLM_GATEWAY_", "AWS_"))}
    environment.update(
        PYTHONPATH=f"{ROOT / 'shared'}:{ROOT / 'handlers'}",
        LLM_GATEWAY_CONFIG=str(config_file),
        LLM_GATEWAY_MASTER_KEY=MASTER_KEY,
        AWS_ENDPOINT_URL_DYNAMODB=moto_endpoint,
        AWS_ACCESS_KEY_ID="test",
        AWS_SECRET_ACCESS_KEY="test",
        AWS_DEFAULT_REGION="us-east-1",
        **tables,
        **env,
    )
    started: list[GatewayProcess] = []
    try:
        for number in range(count):
            port = free_port()
            log = folder / f"gateway-{number}.log"
            command = [sys.executable, "-m", "uvicorn", "--host", "127.0.0.1", "--port", str(port)]
            command += ["--no-access-log", "--http", SHIPPED_HTTP, "--log-level", "warning", "gateway:app"]
            with log.open("wb") as sink:
                process = subprocess.Popen(
                    command, cwd=ROOT / "handlers", env=environment, stdout=sink, stderr=subprocess.STDOUT
                )
            started.append(GatewayProcess(process, f"http://127.0.0.1:{port}", log))
        for gateway in started:
            _wait_ready(gateway)
        yield started
    finally:
        for gateway in started:
            if gateway.process.poll() is None:
                gateway.process.kill()
                gateway.process.wait(10)
