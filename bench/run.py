"""Gateway overhead benchmark: the same load against the upstream directly and through the gateway, in one
run, so the figures are differences and ratios measured under the same machine conditions.

    make bench            (or: python -m bench.run [--c1-requests N] [--c32-requests N] [--json out.json])

Reports: added latency (median, p99) at concurrency 1 and 32 for non-stream requests (at 32, with the
clients starting over one upstream latency, and again all at once); added time to first
byte and per-chunk delay for streams; cold start (fresh interpreter: import the handler and build the app,
bytecode compiled); gateway RSS after the runs. Alongside, a bare ASGI proxy on the same server
(``bench/floor_proxy.py``) shows how much of the added latency any Python proxy on this stack pays.

The gateway runs as one process, as on Lambda (where each instance serves one request at a time, so only
the c=1 figures describe a Lambda instance). The c=32 runs are also made against a second gateway with one
worker process per core (``--per-core-workers``; ``llm_gateway.local.serve --workers``, uvicorn's workers),
as a server with this many cores would run it: one event loop serving 32 clients
finishes answers that arrive together one after another.
"""

from __future__ import annotations

import argparse
import asyncio
import compileall
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from bench.loadgen import Connection

ROOT = Path(__file__).resolve().parent.parent
KEY = "sk-bench-master-key"
PATH = "/v1/chat/completions"
BODY = {
    "model": "bench",
    "messages": [{"role": "user", "content": "Say something for the benchmark."}],
    "max_tokens": 64,
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(url: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{url} did not come up")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def run_load(port: int, headers: dict[str, str], n: int, concurrency: int, spread: float = 0.0) -> list[float]:
    """``n`` requests from ``concurrency`` keep-alive clients, each sending its next request as soon as it has
    its answer. The clients connect first; client ``i`` then sends its first request ``i * spread /
    concurrency`` seconds after the first client (``spread`` 0: all at once, a burst)."""
    latencies: list[float] = []
    body = json.dumps(BODY).encode()
    remaining = iter(range(n))

    async def worker(i: int) -> None:
        connection = Connection("127.0.0.1", port)
        try:
            await connection.open()
            await asyncio.sleep(i * spread / concurrency)
            for _ in remaining:
                started = time.perf_counter()
                status, _pieces = await connection.request(PATH, body, headers)
                if status != 200:
                    raise RuntimeError(f"HTTP {status}")
                latencies.append(time.perf_counter() - started)
        finally:
            await connection.close()

    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    return latencies


async def run_streams(port: int, headers: dict[str, str], n: int) -> tuple[list[float], list[float]]:
    """Sequential streams: time to the first SSE event, and the mean arrival offset of the events after it
    (each event timed by the piece it arrived in, so merged events count at their real arrival)."""
    first_bytes: list[float] = []
    chunk_offsets: list[float] = []
    body = json.dumps({**BODY, "stream": True}).encode()
    connection = Connection("127.0.0.1", port)
    try:
        for _ in range(n):
            started = time.perf_counter()
            status, pieces = await connection.request(PATH, body, headers)
            if status != 200:
                raise RuntimeError(f"HTTP {status}")
            # every SSE event, timed by the arrival of the piece that carried it (a proxy may merge events)
            arrivals = [at - started for at, data in pieces for line in data.split(b"\n") if line.startswith(b"data:")]
            first_bytes.append(arrivals[0])
            chunk_offsets.append(statistics.fmean(arrivals[1:]))
    finally:
        await connection.close()
    return first_bytes, chunk_offsets


class OtherLoad:
    """Cores' worth of CPU used by processes outside this benchmark between construction and
    :meth:`cores`: on a noisy machine this is high, and the figures of that run deserve less trust."""

    def __init__(self, own: list[int]) -> None:
        self.own = own
        self.started = time.perf_counter()
        self.ours = self._ours()
        self.busy = machine_busy_seconds()

    def _ours(self) -> float:
        return sum(cpu_seconds(pid) for pid in self.own)

    def cores(self) -> float:
        elapsed = time.perf_counter() - self.started
        other = machine_busy_seconds() - self.busy - (self._ours() - self.ours)
        return max(0.0, other / elapsed)


def serve(
    app: str, port: int, env: dict[str, str], workers: int = 1, root: Path = ROOT, tables: bool = False
) -> subprocess.Popen[bytes]:
    """uvicorn with the flags ``handlers/run.sh`` uses on Lambda, run from ``root``'s ``handlers/``. Several
    workers: ``llm_gateway.local.serve --workers`` (uvicorn's workers), without the embedded DynamoDB, so the
    stores are in memory as in one. ``tables``: as ``make serve`` runs it, with its embedded DynamoDB (moto in
    a process of its own) for keys, limits, spend, the cache and routing state."""
    if tables:
        command = [sys.executable, "-m", "llm_gateway.local.serve", "--port", str(port), "--app", app]
        command += ["--workers", str(workers), "--no-access-log", "--log-level", "warning"]
        env = {k: v for k, v in env.items() if k != "LLM_GATEWAY_EMBEDDED_DYNAMODB"}
    elif workers > 1:
        command = [sys.executable, "-m", "llm_gateway.local.serve", "--port", str(port), "--app", app]
        command += ["--workers", str(workers), "--no-access-log", "--log-level", "warning"]
        env = {**env, "LLM_GATEWAY_EMBEDDED_DYNAMODB": "0"}
    else:
        command = [sys.executable, "-m", "uvicorn", "--host", "127.0.0.1", "--port", str(port), "--no-access-log"]
        # the gateway's protocol (api/slow_clients.py), or uvicorn's own in a tree from before it
        shipped = (root / "shared/llm_gateway/api/slow_clients.py").exists()
        http = "llm_gateway.api.slow_clients:BoundedHttpTools" if shipped else "httptools"
        command += ["--no-proxy-headers", "--http", http, "--log-level", "warning", app]
    return subprocess.Popen(command, cwd=root / "handlers", env=env, stdout=subprocess.DEVNULL)


def cold_start(repeats: int = 7) -> list[float]:
    compileall.compile_dir(str(ROOT / "shared"), quiet=1)
    compileall.compile_dir(str(ROOT / "handlers"), quiet=1)
    probe = (
        "import time; t=time.perf_counter(); import gateway; gateway.app.state.gateway.ensure_ready(); "
        "print(time.perf_counter()-t)"
    )
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'shared'}:{ROOT / 'handlers'}"}
    times = []
    for _ in range(repeats):
        out = subprocess.run(
            [sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True, cwd=ROOT / "handlers"
        )
        times.append(float(out.stdout.strip().splitlines()[-1]))
    return times


def dynamodb_calls(port: int) -> Counter[str]:
    """The DynamoDB calls the gateway on ``port`` has made so far (botocore's event hooks, /debug/runtime)."""
    figures = httpx.get(
        f"http://127.0.0.1:{port}/debug/runtime", headers={"authorization": f"Bearer {KEY}"}, timeout=10
    ).json()
    return Counter({k: v for k, v in figures["aws_calls"].items() if k.startswith("dynamodb.")})


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (uvicorn ``--workers`` runs the app in child processes)."""
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            children = (task / "children").read_text().split() if (task / "children").exists() else []
            queue += [int(child) for child in children]
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU of ``pid`` and its descendants."""
    total = 0
    for member in process_tree(pid):
        fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU seconds every process on the machine has used (all cores), from /proc/stat."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    """Resident memory of the process serving requests (the largest of ``pid`` and its workers)."""
    largest = 0
    for member in process_tree(pid):
        for line in Path(f"/proc/{member}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                largest = max(largest, int(line.split()[1]))
    return largest / 1024 if largest else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--c1-requests", type=int, default=400, help="non-stream requests at concurrency 1")
    # slow answers at c=32 come in episodes of a few hundred (a clump of answers meeting a busy loop), so the
    # p99 of a few thousand samples says more about whether an episode fell in the run than about the p99
    parser.add_argument("--c32-requests", type=int, default=16000, help="non-stream requests at concurrency 32")
    parser.add_argument("--streams", type=int, default=100)
    parser.add_argument("--latency-ms", type=float, default=20)
    parser.add_argument("--workers", type=int, default=1, help="gateway processes; Lambda runs one")
    parser.add_argument(
        "--per-core-workers",
        type=int,
        default=os.cpu_count() or 1,
        help="workers of the second gateway measured at c=32 (default: one per core; 0 or 1: not measured)",
    )
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    up_port, gw_port, floor_port, cores_port = free_port(), free_port(), free_port(), free_port()
    upstream = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "upstream.py"), str(up_port), str(args.latency_ms), "20", "5"]
    )
    config = tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False)  # noqa: SIM115
    config.write(
        f"models:\n  - name: bench\n    provider: openai\n    model: bench\n"
        f"    api_base: http://127.0.0.1:{up_port}/v1\n    api_key: sk-upstream\n"
    )
    config.close()
    env = {
        **os.environ,
        "LLM_GATEWAY_CONFIG": config.name,
        "LLM_GATEWAY_MASTER_KEY": KEY,
        "PYTHONPATH": f"{ROOT / 'shared'}:{ROOT / 'handlers'}",
    }
    env["LLM_GATEWAY_DEBUG_RUNTIME"] = "1"  # /debug/runtime: the DynamoDB calls each gateway made
    gateway = serve("gateway:app", gw_port, {**env, "LLM_GATEWAY_EMBEDDED_DYNAMODB": "0"}, args.workers)
    tables_port = free_port()
    with_tables = serve("gateway:app", tables_port, env, args.workers, tables=True)
    per_core = serve("gateway:app", cores_port, env, args.per_core_workers) if args.per_core_workers > 1 else None
    floor = serve(
        "bench.floor_proxy:app",
        floor_port,
        {
            **env,
            "FLOOR_UPSTREAM": f"http://127.0.0.1:{up_port}/v1/chat/completions",
            "PYTHONPATH": f"{ROOT}:{ROOT / 'shared'}",
        },
        1,
    )
    results: dict[str, Any] = {
        "workers": args.workers,
        "per_core_workers": args.per_core_workers if per_core is not None else None,
        "latency_ms": args.latency_ms,
    }
    try:
        wait_ready(f"http://127.0.0.1:{up_port}/health")
        wait_ready(f"http://127.0.0.1:{gw_port}/health")
        wait_ready(f"http://127.0.0.1:{floor_port}/health")
        wait_ready(f"http://127.0.0.1:{tables_port}/health", timeout=60)
        direct, through = up_port, gw_port
        auth = {"authorization": f"Bearer {KEY}"}
        asyncio.run(run_load(through, auth, 200, 8))  # warm every path
        asyncio.run(run_load(tables_port, auth, 200, 8))
        asyncio.run(run_load(direct, {}, 200, 8))
        asyncio.run(run_load(floor_port, {}, 200, 8))
        if per_core is not None:
            wait_ready(f"http://127.0.0.1:{cores_port}/health")
            asyncio.run(run_load(cores_port, auth, 400, 32))  # 32 connections: every worker gets some
        own = [upstream.pid, gateway.pid, floor.pid, with_tables.pid, os.getpid()]
        other = OtherLoad([*own, *([per_core.pid] if per_core else [])])
        served = 200
        # c=32: the clients start over one upstream latency, as clients that are not in lockstep do; with a
        # fixed-latency upstream a burst start stays a burst for the whole run, so it is measured apart
        runs = {  # name: (concurrency, requests, spread of the clients' first requests, rounds)
            "c1": (1, args.c1_requests, 0.0, 2),
            "c32": (32, args.c32_requests, args.latency_ms / 1000, 8),
            "c32_burst": (32, args.c32_requests, 0.0, 2),
        }
        for name, (concurrency, n, spread, rounds) in runs.items():
            # interleave rounds so drift in machine load hits every side alike
            d, g, f, pc, t = [], [], [], [], []
            cpu_used = floor_cpu = 0.0
            seconds = {"gateway": 0.0, "tables": 0.0}
            calls_before = dynamodb_calls(tables_port)
            for _ in range(rounds):
                d += asyncio.run(run_load(direct, {}, n // rounds, concurrency, spread))
                cpu_before = cpu_seconds(floor.pid)
                f += asyncio.run(run_load(floor_port, {}, n // rounds, concurrency, spread))
                floor_cpu += cpu_seconds(floor.pid) - cpu_before
                cpu_before, started = cpu_seconds(gateway.pid), time.perf_counter()
                g += asyncio.run(run_load(through, auth, n // rounds, concurrency, spread))
                seconds["gateway"] += time.perf_counter() - started
                cpu_used += cpu_seconds(gateway.pid) - cpu_before
                started = time.perf_counter()
                t += asyncio.run(run_load(tables_port, auth, n // rounds, concurrency, spread))
                seconds["tables"] += time.perf_counter() - started
                if per_core is not None and concurrency > 1:
                    pc += asyncio.run(run_load(cores_port, auth, n // rounds, concurrency, spread))
            served += len(g)
            time.sleep(1.5)  # the last flush window of the tables' gateway
            calls = dynamodb_calls(tables_port) - calls_before
            results[name + "_tables"] = {
                "added_median_ms": (statistics.median(t) - statistics.median(d)) * 1000,
                "added_p99_ms": (percentile(t, 0.99) - percentile(d, 0.99)) * 1000,
                "requests_per_second": len(t) / seconds["tables"],
                "tables_off_requests_per_second": len(g) / seconds["gateway"],
                "dynamodb_calls_per_request": sum(calls.values()) / len(t),
                "dynamodb_calls": dict(calls),
            }
            results[name] = {
                "direct_median_ms": statistics.median(d) * 1000,
                "gateway_median_ms": statistics.median(g) * 1000,
                "added_median_ms": (statistics.median(g) - statistics.median(d)) * 1000,
                "direct_p99_ms": percentile(d, 0.99) * 1000,
                "gateway_p99_ms": percentile(g, 0.99) * 1000,
                "added_p99_ms": (percentile(g, 0.99) - percentile(d, 0.99)) * 1000,
                "ratio_median": statistics.median(g) / statistics.median(d),
                "gateway_cpu_ms_per_request": cpu_used / len(g) * 1000,
                "floor_added_median_ms": (statistics.median(f) - statistics.median(d)) * 1000,
                "floor_added_p99_ms": (percentile(f, 0.99) - percentile(d, 0.99)) * 1000,
                "floor_cpu_ms_per_request": floor_cpu / len(f) * 1000,
            }
            if pc:
                results[name]["per_core_added_median_ms"] = (statistics.median(pc) - statistics.median(d)) * 1000
                results[name]["per_core_added_p99_ms"] = (percentile(pc, 0.99) - percentile(d, 0.99)) * 1000
        d_first, d_chunks = asyncio.run(run_streams(direct, {}, args.streams))
        f_first, f_chunks = asyncio.run(run_streams(floor_port, {}, args.streams))
        g_first, g_chunks = asyncio.run(run_streams(through, auth, args.streams))
        results["stream"] = {
            "direct_first_byte_ms": statistics.median(d_first) * 1000,
            "gateway_first_byte_ms": statistics.median(g_first) * 1000,
            "added_first_byte_ms": (statistics.median(g_first) - statistics.median(d_first)) * 1000,
            "floor_added_first_byte_ms": (statistics.median(f_first) - statistics.median(d_first)) * 1000,
            "added_per_chunk_ms": (statistics.median(g_chunks) - statistics.median(d_chunks)) * 1000,
            "floor_added_per_chunk_ms": (statistics.median(f_chunks) - statistics.median(d_chunks)) * 1000,
        }
        results["other_load_cores"] = other.cores()
        results["rss_mb_after_runs"] = rss_mb(gateway.pid)
        results["requests_served"] = served + args.streams
    finally:
        processes = [p for p in (gateway, with_tables, per_core, floor, upstream) if p is not None]
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(10)
        Path(config.name).unlink(missing_ok=True)
    starts = cold_start()
    results["cold_start_ms"] = {"median": statistics.median(starts) * 1000, "max": max(starts) * 1000}
    print_table(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


def print_table(r: dict[str, Any]) -> None:
    rows = [
        (
            "non-stream c=1: added median / p99",
            f"{r['c1']['added_median_ms']:.2f} ms / {r['c1']['added_p99_ms']:.2f} ms",
            f"direct {r['c1']['direct_median_ms']:.2f} ms, gateway {r['c1']['gateway_median_ms']:.2f} ms",
        ),
        (
            "non-stream c=32: added median / p99",
            f"{r['c32']['added_median_ms']:.2f} ms / {r['c32']['added_p99_ms']:.2f} ms",
            f"direct {r['c32']['direct_median_ms']:.2f} ms, gateway {r['c32']['gateway_median_ms']:.2f} ms; "
            "clients start over one upstream latency",
        ),
        (
            "non-stream c=32, all start at once: added median / p99",
            f"{r['c32_burst']['added_median_ms']:.2f} ms / {r['c32_burst']['added_p99_ms']:.2f} ms",
            f"a burst of 32 kept in step by the fixed-latency upstream; floor adds "
            f"{r['c32_burst']['floor_added_median_ms']:.2f} / {r['c32_burst']['floor_added_p99_ms']:.2f} ms",
        ),
        *tables_rows(r),
        *per_core_rows(r),
        (
            "floor (bare ASGI proxy) added median c=1 / c=32",
            f"{r['c1']['floor_added_median_ms']:.2f} ms / {r['c32']['floor_added_median_ms']:.2f} ms",
            f"p99 c=32 {r['c32']['floor_added_p99_ms']:.2f} ms; CPU/request "
            f"{r['c1']['floor_cpu_ms_per_request']:.2f} / {r['c32']['floor_cpu_ms_per_request']:.2f} ms",
        ),
        (
            "gateway CPU per request (c=1 / c=32)",
            f"{r['c1']['gateway_cpu_ms_per_request']:.2f} ms / {r['c32']['gateway_cpu_ms_per_request']:.2f} ms",
            "user+system time of the gateway process",
        ),
        (
            "stream: added time to first byte",
            f"{r['stream']['added_first_byte_ms']:.2f} ms",
            f"direct {r['stream']['direct_first_byte_ms']:.2f} ms, "
            f"gateway {r['stream']['gateway_first_byte_ms']:.2f} ms, "
            f"floor adds {r['stream']['floor_added_first_byte_ms']:.2f} ms",
        ),
        (
            "stream: added per-chunk delay",
            f"{r['stream']['added_per_chunk_ms']:.2f} ms",
            f"median of mean chunk offset; floor adds {r['stream']['floor_added_per_chunk_ms']:.2f} ms",
        ),
        (
            "cold start (import + build app)",
            f"{r['cold_start_ms']['median']:.0f} ms",
            f"max {r['cold_start_ms']['max']:.0f} ms, bytecode compiled",
        ),
        ("gateway RSS after runs", f"{r['rss_mb_after_runs']:.1f} MB", f"{r['requests_served']} requests served"),
        (
            "other load on the machine",
            f"{r['other_load_cores']:.2f} cores",
            f"outside the benchmark's processes; upstream {r['latency_ms']:g} ms, {r['workers']} gateway worker(s)",
        ),
    ]
    width = max(len(a) for a, _, _ in rows)
    print(f"{'measure'.ljust(width)} | result | context")
    for a, b, c in rows:
        print(f"{a.ljust(width)} | {b} | {c}")


def tables_rows(r: dict[str, Any]) -> list[tuple[str, str, str]]:
    """Tables on (as ``make serve`` runs it: embedded DynamoDB in a process of its own) beside tables off."""
    c1, c32 = r["c1_tables"], r["c32_tables"]
    ratio = c32["requests_per_second"] / c32["tables_off_requests_per_second"]
    return [
        (
            "tables on: c=1 added median / p99",
            f"{c1['added_median_ms']:.2f} ms / {c1['added_p99_ms']:.2f} ms",
            f"tables off: {r['c1']['added_median_ms']:.2f} ms / {r['c1']['added_p99_ms']:.2f} ms",
        ),
        (
            "c=32 requests/s: tables on / off",
            f"{c32['requests_per_second']:.0f} / {c32['tables_off_requests_per_second']:.0f} ({ratio:.2f})",
            f"tables on, added median / p99 {c32['added_median_ms']:.2f} / {c32['added_p99_ms']:.2f} ms",
        ),
        (
            "DynamoDB calls per request, c=1 / c=32",
            f"{c1['dynamodb_calls_per_request']:.3f} / {c32['dynamodb_calls_per_request']:.3f}",
            ", ".join(f"{k.split('.', 1)[1]} {v}" for k, v in sorted(c32["dynamodb_calls"].items())) + " at c=32",
        ),
    ]


def per_core_rows(r: dict[str, Any]) -> list[tuple[str, str, str]]:
    if r.get("per_core_workers") is None:
        return []
    c32, burst = r["c32"], r["c32_burst"]
    return [
        (
            f"non-stream c=32, {r['per_core_workers']} workers: added median / p99",
            f"{c32['per_core_added_median_ms']:.2f} ms / {c32['per_core_added_p99_ms']:.2f} ms",
            f"one worker per core (uvicorn's); all at once: {burst['per_core_added_median_ms']:.2f} / "
            f"{burst['per_core_added_p99_ms']:.2f} ms",
        )
    ]


if __name__ == "__main__":
    main()
