"""``python -m llm_gateway.local.serve --workers 2``: two processes on one port (uvicorn's ``--workers``).

Every answer must be the gateway's, a worker that dies must be replaced, and SIGTERM must stop them all.
(The gateway's own SO_REUSEPORT supervisor was measured against this and removed:
docs/decisions/0004-worker-processes.md.)
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.gateway import MASTER_KEY
from tests.support.openai_schema import assert_completion
from tests.support.servers import free_port

ROOT = Path(__file__).resolve().parent.parent.parent
AUTH = {"authorization": f"Bearer {MASTER_KEY}", "content-type": "application/json"}
BODY = json.dumps({"model": "mock", "messages": [{"role": "user", "content": "Hello"}]})

Served = tuple[subprocess.Popen[str], int]
"""The supervisor's process and the port its workers serve."""

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads the process tree from /proc"),
]


def start(port: int, workers: int = 2, app: str = "gateway:app", **extra_env: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLM_GATEWAY_")}
    env.update(extra_env)
    env.update(
        LLM_GATEWAY_MASTER_KEY=MASTER_KEY,
        LLM_GATEWAY_EMBEDDED_DYNAMODB="0",
        LLM_GATEWAY_DEBUG_RUNTIME="1",
        PYTHONPATH=f"{ROOT / 'shared'}:{ROOT / 'handlers'}",
    )
    command = [sys.executable, "-m", "llm_gateway.local.serve", "--port", str(port), "--workers", str(workers)]
    return subprocess.Popen(
        [*command, "--app", app, "--no-access-log"],
        cwd=ROOT / "handlers",
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def pid_behind(connection: http.client.HTTPConnection) -> int:
    connection.request("GET", "/debug/runtime", headers=AUTH)
    response = connection.getresponse()
    assert response.status == 200
    return int(json.loads(response.read())["pid"])


def wait_for_workers(port: int, count: int, exclude: frozenset[int] = frozenset(), timeout: float = 30) -> set[int]:
    """The pids of ``count`` workers answering on ``port`` (none of ``exclude``), asking on fresh connections."""
    deadline = time.monotonic() + timeout
    seen: set[int] = set()
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            pid = pid_behind(connection)
            connection.close()
        except OSError:
            time.sleep(0.1)
            continue
        if pid not in exclude:
            seen.add(pid)
        if len(seen) >= count:
            return seen
    raise AssertionError(f"{count} workers did not answer on port {port} (saw {seen})")


@pytest.fixture
def two_workers() -> Iterator[Served]:
    port = free_port()
    server = start(port)
    try:
        wait_for_workers(port, 1)
        deadline = time.monotonic() + 30
        while len(worker_pids(server.pid)) < 2:
            assert time.monotonic() < deadline, "two workers did not start"
            time.sleep(0.1)
        yield server, port
    finally:
        if server.poll() is None:
            server.kill()  # the test failed before stopping it; the workers get SIGTERM when it dies
        server.wait(30)


def children(pid: int) -> set[int]:
    found = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        found |= {int(c) for c in (task / "children").read_text().split()}
    return found


def worker_pids(supervisor: int) -> set[int]:
    """The supervisor's children that serve (multiprocessing also runs a resource tracker)."""
    pids = set()
    for child in children(supervisor):
        try:
            if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
                pids.add(child)
        except FileNotFoundError:
            pass
    return pids


def test_every_answer_is_the_gateways(two_workers: Served) -> None:
    _, port = two_workers
    for _ in range(8):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request("POST", "/v1/chat/completions", body=BODY, headers=AUTH)
        response = connection.getresponse()
        assert response.status == 200
        assert_completion(json.loads(response.read()))
        connection.close()


def test_a_worker_that_dies_is_replaced(two_workers: Served) -> None:
    server, port = two_workers
    before = worker_pids(server.pid)
    assert len(before) == 2
    victim = min(before)
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while len(worker_pids(server.pid) - {victim}) < 2:
        assert time.monotonic() < deadline, "the dead worker was not replaced"
        time.sleep(0.1)
    assert victim not in worker_pids(server.pid)
    wait_for_workers(port, 1)


def test_sigterm_stops_every_worker(two_workers: Served) -> None:
    server, _ = two_workers
    workers = worker_pids(server.pid)
    server.send_signal(signal.SIGTERM)
    assert server.wait(30) == 0
    assert not any(alive(pid) for pid in workers)


def alive(pid: int) -> bool:
    try:
        return "Z" not in Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
