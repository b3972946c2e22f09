"""Several worker processes on one port: their sockets, and the supervisor that keeps them running."""

from __future__ import annotations

import errno
import logging
import multiprocessing
import os
import re
import signal
import socket
import threading
import time
from pathlib import Path

import pytest

from llm_gateway.api.workers import FAILED_START, Supervisor, reuse_port_socket, reuse_port_supported, stop_with_parent
from tests.support.servers import free_port, wait_until

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not reuse_port_supported(), reason="SO_REUSEPORT is Linux-only"),
]


def test_two_sockets_listen_on_one_port_and_both_accept() -> None:
    port = free_port()
    first, second = reuse_port_socket("127.0.0.1", port), reuse_port_socket("127.0.0.1", port)
    try:
        assert first.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) == 1
        assert first.getsockname() == second.getsockname() == ("127.0.0.1", port)
        clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(64)]
        time.sleep(0.1)
        accepted = []
        for listener in (first, second):
            count = 0
            while True:
                try:
                    listener.accept()[0].close()
                except BlockingIOError:
                    break
                count += 1
            accepted.append(count)
        for client in clients:
            client.close()
        assert sum(accepted) == 64
        assert min(accepted) >= 12  # the kernel spreads connections by hash: both get a fair share
    finally:
        first.close()
        second.close()


def test_a_port_held_without_reuse_port_is_refused() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(OSError) as raised:
            reuse_port_socket("127.0.0.1", taken.getsockname()[1])
        assert raised.value.errno == errno.EADDRINUSE


# Targets for the supervisor's workers (spawned processes import them from this module).


def _serve_until_terminated(marker_dir: str) -> None:
    Path(marker_dir, str(os.getpid())).touch()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait(60)


def _fail_to_start(marker_dir: str) -> None:
    raise SystemExit(FAILED_START)


def _started(marker_dir: Path, count: int, timeout: float = 20) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = sorted(int(p.name) for p in marker_dir.iterdir())
        if len(pids) >= count:
            return pids
        time.sleep(0.05)
    raise AssertionError(f"{count} workers did not start")


def _run_in_thread(supervisor: Supervisor) -> tuple[threading.Thread, list[int]]:
    status: list[int] = []
    thread = threading.Thread(target=lambda: status.append(supervisor.run()))
    thread.start()
    return thread, status


def test_the_supervisor_replaces_a_dead_worker_and_stops_them_all(tmp_path: Path) -> None:
    supervisor = Supervisor(2, _serve_until_terminated, (str(tmp_path),), stop_timeout=10)
    thread, status = _run_in_thread(supervisor)
    try:
        first = _started(tmp_path, 2)
        os.kill(first[0], signal.SIGKILL)
        pids = _started(tmp_path, 3)
        replacement = next(pid for pid in pids if pid not in first)
        assert {p.pid for p in supervisor.processes} == {first[1], replacement}
    finally:
        supervisor.stop()
        thread.join(20)
    assert status == [0]
    assert all(not p.is_alive() and p.exitcode == 0 for p in supervisor.processes)  # SIGTERM let them finish


def _exit_at_once(marker_dir: str) -> None:
    Path(marker_dir, str(os.getpid())).touch()
    raise SystemExit(3)


def test_a_worker_that_keeps_exiting_is_restarted_ever_more_slowly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="llm_gateway.workers")

    def waits() -> list[str]:
        return re.findall(r"starting another in (\S+ s)", caplog.text)

    supervisor = Supervisor(1, _exit_at_once, (str(tmp_path),), stop_timeout=10)
    thread, status = _run_in_thread(supervisor)
    try:
        wait_until(lambda: len(waits()) >= 3)
    finally:
        supervisor.stop()
        thread.join(20)
    assert status == [0]
    assert waits()[:3] == ["0.5 s", "1 s", "2 s"]  # each quick exit doubles the wait before the next start
    assert len(list(tmp_path.iterdir())) >= 3  # each wait followed a start that exited


def test_a_worker_that_cannot_start_stops_the_supervisor(tmp_path: Path) -> None:
    supervisor = Supervisor(2, _fail_to_start, (str(tmp_path),), stop_timeout=10)
    thread, status = _run_in_thread(supervisor)
    thread.join(30)
    assert not thread.is_alive()
    assert status == [1]
    assert all(not p.is_alive() for p in supervisor.processes)


def test_a_worker_that_ignores_sigterm_is_killed_after_the_stop_timeout(tmp_path: Path) -> None:
    supervisor = Supervisor(1, _ignore_sigterm, (str(tmp_path),), stop_timeout=0.5)
    thread, status = _run_in_thread(supervisor)
    _started(tmp_path, 1)
    supervisor.stop()
    thread.join(20)  # the worker would outlive this by a minute unless killed
    assert status == [0]
    assert supervisor.processes[0].exitcode == -signal.SIGKILL


def _ignore_sigterm(marker_dir: str) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    Path(marker_dir, str(os.getpid())).touch()
    time.sleep(60)


def test_a_worker_stops_when_its_parent_is_already_gone() -> None:
    context = multiprocessing.get_context("spawn")
    worker = context.Process(target=stop_with_parent, args=(os.getpid() + 1_000_000,))  # not its parent
    worker.start()
    worker.join(20)
    assert worker.exitcode == 0


def test_at_least_one_worker() -> None:
    with pytest.raises(ValueError):
        Supervisor(0, _serve_until_terminated, ("",), context=multiprocessing.get_context("spawn"))
