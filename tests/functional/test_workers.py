"""``python -m llm_gateway.local.serve --workers 2``: two processes on one port, each with its own socket.

Clients that open their connections together (an SDK's pool) must be spread over the workers, every
answer must be the gateway's, a worker that dies must be replaced, and SIGTERM must stop them all.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from llm_gateway.api.workers import reuse_port_supported
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
    pytest.mark.skipif(not reuse_port_supported(), reason="SO_REUSEPORT is Linux-only"),
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
        wait_for_workers(port, 2)
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


def test_connections_opened_together_are_spread_over_the_workers(two_workers: Served) -> None:
    _, port = two_workers
    connections = [http.client.HTTPConnection("127.0.0.1", port, timeout=10) for _ in range(32)]
    for connection in connections:
        connection.connect()
    per_worker: Counter[int] = Counter()
    for connection in connections:
        connection.request("POST", "/v1/chat/completions", body=BODY, headers=AUTH)
        response = connection.getresponse()
        assert response.status == 200
        assert_completion(json.loads(response.read()))
        per_worker[pid_behind(connection)] += 1  # the same keep-alive connection: the worker that answered
        connection.close()
    assert len(per_worker) == 2
    assert min(per_worker.values()) >= 6, per_worker  # by hash; uvicorn's shared socket gave 32/0 here


def test_a_worker_that_dies_is_replaced(two_workers: Served) -> None:
    server, port = two_workers
    before = worker_pids(server.pid)
    assert len(before) == 2
    victim = min(before)
    os.kill(victim, signal.SIGKILL)
    replacement = wait_for_workers(port, 1, exclude=frozenset(before))
    assert worker_pids(server.pid) == (before - {victim}) | replacement


def test_sigterm_stops_every_worker(two_workers: Served) -> None:
    server, _ = two_workers
    workers = worker_pids(server.pid)
    server.send_signal(signal.SIGTERM)
    assert server.wait(30) == 0
    assert not any(alive(pid) for pid in workers)


def test_workers_stop_when_the_supervisor_is_killed(two_workers: Served) -> None:
    server, _ = two_workers
    workers = worker_pids(server.pid)
    server.kill()
    server.wait(10)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(alive(pid) for pid in workers):
        time.sleep(0.1)
    assert not any(alive(pid) for pid in workers)


def alive(pid: int) -> bool:
    try:
        return "Z" not in Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False


def exit_status_and_stderr(server: subprocess.Popen[str]) -> tuple[int, str]:
    """Wait for a server expected to stop by itself (killed after a minute if it does not)."""
    try:
        _, stderr = server.communicate(timeout=60)
    finally:
        if server.poll() is None:
            server.kill()
    return server.returncode, stderr


def test_a_port_in_use_is_reported_not_retried() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        status, stderr = exit_status_and_stderr(start(taken.getsockname()[1]))
    assert status == 1
    assert "cannot listen on 127.0.0.1" in stderr and "Address already in use" in stderr


@pytest.mark.parametrize(
    ("app", "env", "says"),
    [
        ("no_such_module:app", {}, "Could not import module"),
        ("gateway:app", {"LLM_GATEWAY_CONFIG": "/nonexistent/config.yaml"}, "/nonexistent/config.yaml"),
    ],
    ids=["app-does-not-import", "bad-config"],
)
def test_a_worker_that_cannot_start_stops_everything(app: str, env: dict[str, str], says: str) -> None:
    status, stderr = exit_status_and_stderr(start(free_port(), app=app, **env))
    assert status == 1
    assert says in stderr
