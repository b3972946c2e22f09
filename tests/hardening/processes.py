"""Run the gateway (uvicorn, as in production) and the echo upstream as separate processes, so load and
soak figures (RSS, fds, tasks) are the gateway's alone."""

from __future__ import annotations

import os
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
import yaml

from llm_gateway.api.slow_clients import SHIPPED_HTTP
from tests.support.gateway import MASTER_KEY
from tests.support.servers import free_socket

ROOT = Path(__file__).resolve().parent.parent.parent


@dataclass
class Process:
    popen: subprocess.Popen[str]
    base_url: str
    log_path: Path | None = None

    @property
    def pid(self) -> int:
        return self.popen.pid

    def rss_bytes(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0

    def cpu_seconds(self) -> float:
        """User + system CPU time the process has used."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def open_fds(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def runtime(self, collect: bool = True) -> dict[str, Any]:
        response = httpx.get(
            f"{self.base_url}/debug/runtime",
            params={"gc": "1"} if collect else None,
            headers={"authorization": f"Bearer {MASTER_KEY}"},
            timeout=10,
        )
        response.raise_for_status()
        figures: dict[str, Any] = response.json()
        return figures

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path else ""


def _stop(popen: subprocess.Popen[str]) -> None:
    if popen.poll() is None:
        popen.terminate()
        try:
            popen.wait(timeout=10)
        except subprocess.TimeoutExpired:
            popen.kill()
            popen.wait(timeout=5)


@contextmanager
def echo_upstream(words: int, chunk_delay: float) -> Iterator[Process]:
    popen = subprocess.Popen(
        [sys.executable, "-m", "tests.hardening.upstreams", "--words", str(words), "--chunk-delay", str(chunk_delay)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": f"{ROOT}:{ROOT / 'shared'}"},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert popen.stdout is not None
        line = popen.stdout.readline()
        if not line.startswith("PORT "):
            raise RuntimeError(f"the echo upstream did not start: {line!r}")
        yield Process(popen, f"http://127.0.0.1:{int(line.split()[1])}")
    finally:
        if popen.stdin is not None:
            popen.stdin.close()
        _stop(popen)


@contextmanager
def gateway_process(config: dict[str, Any], env: dict[str, str] | None = None) -> Iterator[Process]:
    """``handlers/gateway.py:app`` under uvicorn (uvloop, the gateway's httptools protocol: what Lambda runs)
    on a free port, with the debug runtime endpoint on; its log (JSON lines) goes to a temporary file."""
    sock = free_socket()
    port = sock.getsockname()[1]
    sock.close()
    workdir = Path(tempfile.mkdtemp(prefix="llm-gateway-hardening-"))
    config_path = workdir / "config.yaml"
    config_path.write_text(yaml.safe_dump(config))
    log_path = workdir / "gateway.log"
    environment = {
        **os.environ,
        "PYTHONPATH": f"{ROOT / 'shared'}:{ROOT / 'handlers'}",
        "LLM_GATEWAY_CONFIG": str(config_path),
        "LLM_GATEWAY_MASTER_KEY": MASTER_KEY,
        "LLM_GATEWAY_DEBUG_RUNTIME": "1",
        **(env or {}),
    }
    with log_path.open("w") as log:
        popen = subprocess.Popen(
            [
                sys.executable,
                *f"-m uvicorn --host 127.0.0.1 --port {port} --no-access-log --http {SHIPPED_HTTP} gateway:app".split(),
            ],
            cwd=ROOT / "handlers",
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
    process = Process(popen, f"http://127.0.0.1:{port}", log_path)
    try:
        deadline = time.monotonic() + 30
        while True:
            if popen.poll() is not None:
                raise RuntimeError(f"the gateway exited: {process.log_text()[-2000:]}")
            try:
                if httpx.get(f"{process.base_url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the gateway did not start in 30 s")
            time.sleep(0.1)
        yield process
    finally:
        _stop(popen)
