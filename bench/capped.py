"""Run a process with the CPU Lambda gives a function of a given memory size.

Lambda allocates CPU in proportion to memory: 1,769 MB is one full vCPU, so 256 MB gets 0.145 of one, 512 MB
0.289 and 1,024 MB 0.579 (https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html). Two ways
to impose that share here:

- ``cgroup``: a CPU cgroup (v2 ``cpu.max``, or v1 ``cpu.cfs_quota_us``) with quota = share x period,
  100 ms periods, the kernel's CFS bandwidth control: the process runs at full speed until its quota for the
  period is spent, then waits for the next period. Used whenever a cgroup can be created (as root here).
- ``duty-cycle``: ``taskset`` to one core, and a controller that stops and continues the process group
  (SIGSTOP / SIGCONT) so it runs ``share`` of every 10 ms slice. Coarser; the fallback without cgroups.

Either way the cap covers the process and its children, and CPU seconds are the same as uncapped; what
grows is the wall time of work that needs the CPU.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

MB_PER_VCPU = 1769
PERIOD_US = 100_000
_V2 = Path("/sys/fs/cgroup")
_V1 = Path("/sys/fs/cgroup/cpu")


def share(memory_mb: int) -> float:
    """The vCPU share Lambda gives a function of ``memory_mb`` (at most 1 here: one process, one core)."""
    return min(1.0, memory_mb / MB_PER_VCPU)


def _cgroup_root() -> tuple[Path, str] | None:
    if (_V2 / "cgroup.controllers").exists() and "cpu" in (_V2 / "cgroup.controllers").read_text().split():
        return _V2, "v2"
    if (_V1 / "cpu.cfs_quota_us").exists():
        return _V1, "v1"
    return None


@contextlib.contextmanager
def _cgroup(name: str, cpu_share: float) -> Iterator[Path | None]:
    found = _cgroup_root()
    if found is None:
        yield None
        return
    root, version = found
    path = root / name
    try:
        path.mkdir(exist_ok=True)
        quota = max(1000, round(cpu_share * PERIOD_US))
        if version == "v2":
            (path / "cpu.max").write_text(f"{quota} {PERIOD_US}")
        else:
            (path / "cpu.cfs_period_us").write_text(str(PERIOD_US))
            (path / "cpu.cfs_quota_us").write_text(str(quota))
    except OSError:
        with contextlib.suppress(OSError):
            path.rmdir()
        yield None
        return
    try:
        yield path
    finally:
        for _ in range(50):  # the cgroup can go once its processes have
            try:
                path.rmdir()
                break
            except OSError:
                time.sleep(0.1)


class _DutyCycle(threading.Thread):
    """Stops and continues a process group so it runs ``cpu_share`` of each ``slice_s``."""

    def __init__(self, pgid: int, cpu_share: float, slice_s: float = 0.01) -> None:
        super().__init__(daemon=True, name="duty-cycle")
        self.pgid, self.run_s, self.stop_s = pgid, slice_s * cpu_share, slice_s * (1 - cpu_share)
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            time.sleep(self.run_s)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pgid, signal.SIGSTOP)
            time.sleep(self.stop_s)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pgid, signal.SIGCONT)


class CappedProcess:
    """``command`` started with ``memory_mb``'s CPU share (``None``: uncapped); ``method`` says how."""

    def __init__(
        self, command: Sequence[str], memory_mb: int | None, *, env: Mapping[str, str], cwd: Path, log: Path
    ) -> None:
        self.memory_mb = memory_mb
        self._stack = contextlib.ExitStack()
        self._cycle: _DutyCycle | None = None
        self.method = "uncapped"
        prefix: list[str] = []
        cgroup: Path | None = None
        if memory_mb is not None:
            cgroup = self._stack.enter_context(
                _cgroup(f"llm-gateway-bench-{memory_mb}-{os.getpid()}", share(memory_mb))
            )
            if cgroup is not None:
                self.method = "cgroup"
                procs = cgroup / "cgroup.procs"
                prefix = ["sh", "-c", f'echo $$ > "{procs}" && exec "$@"', "capped"]
            else:
                self.method = "duty-cycle"
                prefix = ["taskset", "-c", "0"]
        self.log = log
        self._log = self._stack.enter_context(log.open("w"))
        self.process = subprocess.Popen(
            [*prefix, *command],
            env=dict(env),
            cwd=cwd,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        if self.method == "duty-cycle" and memory_mb is not None:
            self._cycle = _DutyCycle(self.process.pid, share(memory_mb))
            self._cycle.start()

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_bytes(self) -> int:
        """What the process has written to stdout and stderr so far."""
        return self.log.stat().st_size

    def stop(self) -> None:
        if self._cycle is not None:
            self._cycle.done.set()
            self._cycle.join()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGCONT)
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=15)
        self._stack.close()
