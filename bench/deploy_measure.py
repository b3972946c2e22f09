"""The measurements behind the deployment defaults and docs/cost.md, written to bench/figures/deploy.json.

    python -m bench.deploy_measure concurrency    Lambda Managed Instances: what one uvicorn process under
                                                   run.sh sustains at c=16/32/64, and two workers
    python -m bench.deploy_measure memory         Lambda on demand: INIT and request CPU and duration with
                                                   the CPU of 256, 512 and 1,024 MB (bench/capped.py)
    python -m bench.deploy_measure rss            peak resident memory of both modes
    python -m bench.deploy_measure all

Both run the SAM build for this machine (``make build-host``: the artifact Lambda runs, python3.13) through
handlers/run.sh, as the Web Adapter starts it, with the environment Lambda gives each mode; requests carry
the adapter's context headers. Upstreams are bench/upstream.py (fixed latency, fixed answers), DynamoDB is
moto in its own process (cache, usage, routing state: the boto3 work is the gateway's, the table's latency
is moto's). The load generator is bench/loadgen.py. The machine is shared: each figure records how many
cores the rest of the machine (load generator, upstream, moto, anything else) used meanwhile.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from bench.capped import CappedProcess, share
from bench.loadgen import Connection
from bench.moto_process import moto_server
from bench.run import OtherLoad, free_port, percentile, process_tree

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / ".aws-sam" / "build-host"
FIGURES = ROOT / "bench" / "figures" / "deploy.json"
KEY = "sk-bench-deploy-key"
PATH = "/v1/chat/completions"
MEMORY_SIZES = (256, 512, 1024)
CONCURRENCIES = (16, 32, 64, 128)


def python313() -> str:
    return subprocess.check_output([str(ROOT / "scripts" / "python313.sh")], text=True).strip()


def headers() -> dict[str, str]:
    """The adapter's headers for one invocation (API Gateway request id, Lambda request id, deadline)."""
    request_id = str(uuid.uuid4())
    return {
        "authorization": f"Bearer {KEY}",
        "x-amzn-request-context": json.dumps({"requestId": request_id, "stage": "prod"}),
        "x-amzn-lambda-context": json.dumps({"request_id": request_id, "deadline": int((time.time() + 900) * 1000)}),
    }


def body(*, stream: bool = False, cached: bool = False, prompt: str | None = None) -> bytes:
    payload: dict[str, Any] = {
        "model": "bench",
        "messages": [{"role": "user", "content": prompt or f"Say something ({uuid.uuid4()})."}],
        "max_tokens": 64,
    }
    if stream:
        payload["stream"] = True
        payload["stream_options"] = {"include_usage": True}
    if cached:
        payload["caching"] = True
    return json.dumps(payload).encode()


@contextmanager
def upstream(latency_ms: float, chunks: int, interval_ms: float) -> Iterator[str]:
    port = free_port()
    command = [sys.executable, str(ROOT / "bench" / "upstream.py"), str(port), str(latency_ms), str(chunks)]
    process = subprocess.Popen([*command, str(interval_ms)])
    try:
        deadline = time.monotonic() + 20
        while True:  # listening is enough (its answers take ``latency_ms``)
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        process.terminate()
        process.wait(10)


def write_config(directory: Path, api_base: str) -> Path:
    config = directory / "config.yaml"
    config.write_text(
        "models:\n"
        f"  - {{name: bench, provider: openai, model: bench, api_base: '{api_base}', api_key: sk-upstream}}\n"
        "server: {request_timeout: 840, stream_heartbeat_seconds: 15}\n"
        "cache: {mode: opt-in}\n"
    )
    return config


def lambda_env(config: Path, tables: dict[str, str], endpoint: str, extra: dict[str, str]) -> dict[str, str]:
    """What template.yaml and Lambda give the function (tables on moto), plus ``extra``."""
    function_dir = BUILD / "GatewayFunction"
    return {
        "PATH": f"{Path(python313()).parent}:{os.environ['PATH']}",
        "HOME": tempfile.gettempdir(),
        "LANG": "C.UTF-8",
        "LAMBDA_TASK_ROOT": str(function_dir),
        "PYTHONPATH": str(BUILD / "SharedLayer" / "python"),
        "PYTHONNOUSERSITE": "1",
        "LLM_GATEWAY_CONFIG": str(config),
        "LLM_GATEWAY_MASTER_KEY_REF": KEY,
        "LLM_GATEWAY_LOG_LEVEL": "INFO",
        "LLM_GATEWAY_OBSERVABILITY": "powertools",
        "POWERTOOLS_SERVICE_NAME": "llm-gateway-prod",
        "POWERTOOLS_METRICS_NAMESPACE": "LlmGateway",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_ENDPOINT_URL_DYNAMODB": endpoint,
        "AWS_LAMBDA_FUNCTION_NAME": "llm-gateway-GatewayFunction",
        **tables,
        **extra,
    }


def start_gateway(env: dict[str, str], memory_mb: int | None, log: Path) -> tuple[CappedProcess, int]:
    port = free_port()
    function_dir = BUILD / "GatewayFunction"
    process = CappedProcess(
        ["bash", str(function_dir / "run.sh")], memory_mb, env={**env, "PORT": str(port)}, cwd=function_dir, log=log
    )
    return process, port


def wait_health(port: int, process: CappedProcess, timeout: float = 120) -> float:
    """Seconds until /health answers (polled every 5 ms, as the adapter's readiness check polls)."""
    started = time.perf_counter()
    deadline = started + timeout
    while time.perf_counter() < deadline:
        if process.process.poll() is not None:
            raise RuntimeError(f"run.sh exited with {process.process.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return time.perf_counter() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.005)
    raise RuntimeError("the gateway did not become ready")


@contextmanager
def tables() -> Iterator[tuple[str, dict[str, str]]]:
    import boto3

    sys.path.insert(0, str(ROOT / "shared"))
    from llm_gateway.aws.tables import create_tables

    with moto_server() as endpoint:
        client = boto3.client(
            "dynamodb", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t"
        )
        yield endpoint, create_tables(client, ROOT / "template.yaml", prefix="bench")


# --- on demand: memory --------------------------------------------------------------------------------------


async def one_request(port: int, payload: bytes) -> tuple[float, int]:
    connection = Connection("127.0.0.1", port)
    try:
        started = time.perf_counter()
        status, _pieces = await connection.request(PATH, payload, headers())
        return time.perf_counter() - started, status
    finally:
        await connection.close()


def cpu_time(pid: int) -> float:
    """CPU seconds ``pid`` and its descendants have run, from the scheduler's nanosecond counters (the
    /proc/PID/stat ticks are 10 ms apart: coarser than one request)."""
    total = 0
    for member in process_tree(pid):
        for task in Path(f"/proc/{member}/task").glob("*"):
            try:
                total += int((task / "schedstat").read_text().split()[0])
            except (OSError, ValueError, IndexError):
                continue  # a thread that ended meanwhile
    return total / 1e9


def timed_requests(process: CappedProcess, port: int, payloads: list[bytes]) -> dict[str, float]:
    """Sequential requests (one at a time, as an on-demand environment serves them): median wall seconds
    and median CPU seconds of the gateway per request, and the bytes it logs per request (access line and
    EMF document: what CloudWatch Logs ingests)."""
    walls = []
    logged = process.log_bytes()
    time.sleep(0.2)
    idle_from = cpu_time(process.pid)
    time.sleep(1.0)  # what the process uses doing nothing, taken off the requests' share below
    idle_per_s = cpu_time(process.pid) - idle_from
    before = cpu_time(process.pid)
    for payload in payloads:
        wall, status = asyncio.run(one_request(port, payload))
        if status != 200:
            raise RuntimeError(f"HTTP {status}")
        walls.append(wall)
    busy = cpu_time(process.pid) - before - idle_per_s * sum(walls)
    return {
        "wall_s": round(statistics.median(walls), 4),
        "cpu_s": round(max(0.0, busy) / len(walls), 5),
        "idle_cpu_per_s": round(idle_per_s, 5),
        "log_bytes": round((process.log_bytes() - logged) / len(walls)),
        "n": len(walls),
    }


def measure_memory(runs: int) -> dict[str, Any]:
    results: dict[str, Any] = {"sizes": {}, "cpu_share": {str(mb): round(share(mb), 3) for mb in MEMORY_SIZES}}
    with tempfile.TemporaryDirectory() as tmp, tables() as (endpoint, names):
        logs = Path(tmp)
        scenarios = {
            "cache_hit": (20, 20, 5, lambda: [body(cached=True, prompt="the cached question")] * 50),
            "completion_2s": (2000, 20, 5, lambda: [body() for _ in range(4)]),
            "stream_10s": (10, 200, 50, lambda: [body(stream=True) for _ in range(3)]),
        }
        for size in (None, *MEMORY_SIZES):
            label = str(size) if size else "uncapped"
            entry: dict[str, Any] = {}
            load = OtherLoad([])
            inits: list[tuple[float, float]] = []
            for _ in range(runs):
                with upstream(20, 20, 5) as api_base:
                    env = lambda_env(write_config(logs, api_base), names, endpoint, {})
                    process, port = start_gateway(env, size, logs / f"init-{label}.log")
                    try:
                        wall = wait_health(port, process)
                        inits.append((wall, cpu_time(process.pid)))
                    finally:
                        method = process.method
                        process.stop()
            entry["init"] = {
                "wall_s": round(statistics.median(w for w, _ in inits), 3),
                "cpu_s": round(statistics.median(c for _, c in inits), 3),
                "runs": runs,
            }
            for name, (latency, chunks, interval, payloads) in scenarios.items():
                with upstream(latency, chunks, interval) as api_base:
                    env = lambda_env(write_config(logs, api_base), names, endpoint, {})
                    process, port = start_gateway(env, size, logs / f"{name}-{label}.log")
                    try:
                        wait_health(port, process)
                        warm = [body(cached=True, prompt="the cached question")] if name == "cache_hit" else [body()]
                        timed_requests(process, port, warm)  # first request: lazy imports, the cache filled
                        entry[name] = timed_requests(process, port, payloads())
                    finally:
                        process.stop()
            entry["method"] = method
            entry["rest_of_machine_cores"] = round(load.cores(), 2)
            results["sizes"][label] = entry
            print(f"memory {label}: {json.dumps(entry)}", flush=True)
    results["upstream"] = {
        "cache_hit": "answered from the response cache (DynamoDB on moto), no upstream call",
        "completion_2s": "non-stream, upstream answers after 2,000 ms",
        "stream_10s": "stream of 200 chunks, one every 50 ms (10 s), with usage",
    }
    return results


# --- managed instances: concurrency ---------------------------------------------------------------------------


async def completions_at(port: int, concurrency: int, total: int) -> list[float]:
    latencies: list[float] = []
    remaining = iter(range(total))

    async def client() -> None:
        connection = Connection("127.0.0.1", port)
        try:
            await connection.open()
            for _ in remaining:
                started = time.perf_counter()
                status, _ = await connection.request(PATH, body(), headers())
                if status != 200:
                    raise RuntimeError(f"HTTP {status}")
                latencies.append(time.perf_counter() - started)
        finally:
            await connection.close()

    await asyncio.gather(*(client() for _ in range(concurrency)))
    return latencies


async def streams_at(port: int, concurrency: int, rounds: int) -> tuple[list[float], list[float]]:
    """``concurrency`` clients each streaming ``rounds`` times: time to first byte, and each stream's
    largest gap between chunks."""
    first: list[float] = []
    gaps: list[float] = []

    async def client() -> None:
        connection = Connection("127.0.0.1", port)
        try:
            await connection.open()
            for _ in range(rounds):
                started = time.perf_counter()
                status, pieces = await connection.request(PATH, body(stream=True), headers())
                if status != 200:
                    raise RuntimeError(f"HTTP {status}")
                arrivals = [at for at, _ in pieces]
                first.append(arrivals[0] - started)
                gaps.append(max(b - a for a, b in itertools.pairwise(arrivals)))
        finally:
            await connection.close()

    await asyncio.gather(*(client() for _ in range(concurrency)))
    return first, gaps


def _under_load(process: CappedProcess, work: Any) -> tuple[Any, dict[str, float]]:
    """``work()``'s result, and the gateway's CPU over it (cores, seconds) with the rest of the machine's."""
    load = OtherLoad(process_tree(process.pid))
    before, started = cpu_time(process.pid), time.perf_counter()
    result = work()
    elapsed = time.perf_counter() - started
    cpu = cpu_time(process.pid) - before
    return result, {"cpu_s": cpu, "elapsed_s": elapsed, "gateway_cores": cpu / elapsed, "rest_cores": load.cores()}


def completion_figures(process: CappedProcess, port: int, concurrency: int, total: int) -> dict[str, float]:
    latencies, load = _under_load(process, lambda: asyncio.run(completions_at(port, concurrency, total)))
    return {
        "requests_per_s": round(len(latencies) / load["elapsed_s"], 1),
        "latency_p50_ms": round(statistics.median(latencies) * 1000, 1),
        "latency_p99_ms": round(percentile(latencies, 0.99) * 1000, 1),
        "cpu_ms_per_request": round(load["cpu_s"] / len(latencies) * 1000, 3),
        "gateway_cores": round(load["gateway_cores"], 2),
        "rest_of_machine_cores": round(load["rest_cores"], 2),
        "n": len(latencies),
    }


def stream_figures(process: CappedProcess, port: int, concurrency: int, rounds: int) -> dict[str, float]:
    (first, gaps), load = _under_load(process, lambda: asyncio.run(streams_at(port, concurrency, rounds)))
    return {
        "streams_per_s": round(len(first) / load["elapsed_s"], 2),
        "ttfb_p50_ms": round(statistics.median(first) * 1000, 1),
        "ttfb_p99_ms": round(percentile(first, 0.99) * 1000, 1),
        "largest_chunk_gap_p99_ms": round(percentile(gaps, 0.99) * 1000, 1),
        "cpu_ms_per_stream": round(load["cpu_s"] / len(first) * 1000, 3),
        "gateway_cores": round(load["gateway_cores"], 2),
        "rest_of_machine_cores": round(load["rest_cores"], 2),
        "n": len(first),
    }


def measure_concurrency(requests_per_client: int, stream_rounds: int) -> dict[str, Any]:
    """One and two workers (2 and 4 GB at 2 GiB per vCPU) at each concurrency, for a fast completion (the
    gateway's CPU limits throughput) and a 1 s stream of 50 chunks (per-chunk work at concurrency)."""
    results: dict[str, Any] = {
        "completion": {},
        "stream": {},
        "upstream": {
            "completion": "non-stream, answers after 20 ms",
            "stream": "50 chunks 20 ms apart (1 s), first after 20 ms",
        },
    }
    workloads = {"completion": (20, 20, 5), "stream": (20, 50, 20)}
    with tempfile.TemporaryDirectory() as tmp, tables() as (endpoint, names):
        logs = Path(tmp)
        for workload, (latency, chunks, interval) in workloads.items():
            with upstream(latency, chunks, interval) as api_base:
                for workers in (1, 2):
                    extra = {
                        "AWS_LAMBDA_INITIALIZATION_TYPE": "lambda-managed-instances",
                        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(2048 * workers),
                        "LLM_GATEWAY_MEMORY_PER_VCPU": "2",
                    }
                    env = lambda_env(write_config(logs, api_base), names, endpoint, extra)
                    process, port = start_gateway(env, None, logs / f"{workload}-{workers}.log")
                    try:
                        wait_health(port, process)
                        asyncio.run(completions_at(port, 8, 200))  # warm up every worker
                        for c in CONCURRENCIES:
                            if workload == "completion":
                                figures = completion_figures(process, port, c, c * requests_per_client)
                            else:
                                figures = stream_figures(process, port, c, stream_rounds)
                            results[workload][f"workers={workers} c={c}"] = figures
                            print(f"{workload} workers={workers} c={c}: {json.dumps(figures)}", flush=True)
                    finally:
                        process.stop()
    return results


def peak_rss_mb(pid: int) -> list[float]:
    """The peak resident memory (VmHWM) of ``pid`` and each of its descendants, in MB."""
    peaks = []
    for member in process_tree(pid):
        for line in Path(f"/proc/{member}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                peaks.append(round(int(line.split()[1]) / 1024, 1))
    return peaks


def measure_rss() -> dict[str, Any]:
    """Peak resident memory: one on-demand process after each request kind, and each of two
    managed-instances workers after 128 concurrent streams."""
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp, tables() as (endpoint, names), upstream(20, 50, 20) as api_base:
        logs = Path(tmp)
        env = lambda_env(write_config(logs, api_base), names, endpoint, {})
        process, port = start_gateway(env, None, logs / "rss.log")
        try:
            wait_health(port, process)
            payloads = [body(cached=True, prompt="q")] * 5 + [body() for _ in range(5)]
            payloads += [body(stream=True) for _ in range(5)]
            timed_requests(process, port, payloads)
            results["on_demand_mb"] = max(peak_rss_mb(process.pid))
        finally:
            process.stop()
        extra = {
            "AWS_LAMBDA_INITIALIZATION_TYPE": "lambda-managed-instances",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "4096",
            "LLM_GATEWAY_MEMORY_PER_VCPU": "2",
        }
        env = lambda_env(write_config(logs, api_base), names, endpoint, extra)
        process, port = start_gateway(env, None, logs / "rss-managed.log")
        try:
            wait_health(port, process)
            asyncio.run(streams_at(port, 128, 2))
            peaks = peak_rss_mb(process.pid)
            results["managed_workers_mb"] = sorted(peaks)[-2:]  # the two workers (the supervisor is smaller)
            results["managed_total_mb"] = round(sum(peaks), 1)
        finally:
            process.stop()
    print(f"rss: {json.dumps(results)}", flush=True)
    return results


WORKERS = 2
"""Workers per managed-instances environment by default (template: 4,096 MB at 2 GiB per vCPU)."""
CPU_TARGET = 0.6  # the capacity provider's default target (template: ManagedTargetCpuUtilization)
POOL_PER_WORKER = 200  # server.max_connections: upstream connections one worker may hold
REFERENCE = "workers=1 c=64"
"""The figure the choice rests on: one worker streaming at c=64 (its CPU per stream; contention on a shared
machine slows the streams down but hardly changes the CPU each one takes)."""


def choose_concurrency(measured: dict[str, Any]) -> dict[str, Any]:
    """PerExecutionEnvironmentMaxConcurrency: as many streams as the environment's workers serve at the
    capacity provider's CPU target, for streams sending a chunk every 20 ms (the measured workload, more
    chunks a second than most models send), and no more than the workers' upstream pools hold."""
    stream = measured["stream"][REFERENCE]
    seconds = 50 * 20 / 1000  # the measured stream: 50 chunks, 20 ms apart
    by_cpu = int(WORKERS * CPU_TARGET * seconds / (stream["cpu_ms_per_stream"] / 1000))
    chosen = min(by_cpu, WORKERS * POOL_PER_WORKER, 1600)
    return {
        "chosen_concurrency": chosen,
        "by_cpu_target": by_cpu,
        "by_connection_pools": WORKERS * POOL_PER_WORKER,
        "reference": REFERENCE,
        "workers": WORKERS,
    }


def choose(figures: dict[str, Any]) -> dict[str, Any]:
    """The defaults the template ships, derived from the measured figures (docs/deploy-modes.md explains)."""
    managed = figures.get("managed_instances")
    if managed and "measured" in managed:
        managed.update(choose_concurrency(managed["measured"]))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["concurrency", "memory", "rss", "all"])
    parser.add_argument("--init-runs", type=int, default=3)
    parser.add_argument("--requests-per-client", type=int, default=40)
    parser.add_argument("--stream-rounds", type=int, default=3)
    args = parser.parse_args()
    if not (BUILD / "GatewayFunction" / "run.sh").exists():
        raise SystemExit("no host build: run `make build-host` first")
    figures: dict[str, Any] = json.loads(FIGURES.read_text()) if FIGURES.exists() else {}
    machine = {"cpus": os.cpu_count(), "python": python313(), "platform": sys.platform}
    if args.what in ("memory", "all"):
        figures["on_demand"] = {**figures.get("on_demand", {}), "measured": measure_memory(args.init_runs)}
    if args.what in ("rss", "all"):
        on_demand = figures.setdefault("on_demand", {}).setdefault("measured", {})
        rss = measure_rss()
        on_demand["peak_rss_mb"] = rss["on_demand_mb"]
        figures.setdefault("managed_instances", {})["peak_rss"] = rss
    if args.what in ("concurrency", "all"):
        measured = measure_concurrency(args.requests_per_client, args.stream_rounds)
        figures["managed_instances"] = {**figures.get("managed_instances", {}), "measured": measured}
    figures["machine"] = machine
    figures = choose(figures)
    FIGURES.parent.mkdir(parents=True, exist_ok=True)
    FIGURES.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"wrote {FIGURES.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
