"""Gateway CPU per request at concurrency 32, for one source tree or two compared side by side.

    python bench/app_cpu.py                          (this tree)
    python bench/app_cpu.py --baseline /tmp/main     (a checkout to compare with, e.g. from `git archive main`)

The same config and upstream as bench/run.py (fake upstream, 20 ms latency, non-stream requests, the
gateway under uvicorn with the access log on at INFO). Each round loads every gateway in turn with the
same number of requests, so drift in the machine's load hits all of them alike; the figure is the
gateway process's user+system time divided by the requests served, median over the rounds (the order
alternates from round to round).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.run import KEY, ROOT, cpu_seconds, free_port, run_load, serve, wait_ready


def start_gateway(root: Path, port: int, config: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "LLM_GATEWAY_CONFIG": config,
        "LLM_GATEWAY_MASTER_KEY": KEY,
        "PYTHONPATH": f"{root / 'shared'}:{root / 'handlers'}",
    }
    return serve("gateway:app", port, env, root=root)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--baseline", type=Path, help="another source tree to measure alongside this one")
    parser.add_argument("--requests", type=int, default=2000, help="requests per gateway per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()

    trees = {"this": ROOT}
    if args.baseline is not None:
        trees = {"baseline": args.baseline.resolve(), **trees}
    up_port = free_port()
    upstream = subprocess.Popen([sys.executable, str(ROOT / "bench" / "upstream.py"), str(up_port), "20", "20", "5"])
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as config:
        config.write(
            f"models:\n  - name: bench\n    provider: openai\n    model: bench\n"
            f"    api_base: http://127.0.0.1:{up_port}/v1\n    api_key: sk-upstream\n"
        )
    ports = {name: free_port() for name in trees}
    gateways = {name: start_gateway(root, ports[name], config.name) for name, root in trees.items()}
    auth = {"authorization": f"Bearer {KEY}"}
    figures: dict[str, list[float]] = {name: [] for name in trees}
    try:
        wait_ready(f"http://127.0.0.1:{up_port}/health")
        for name in trees:
            wait_ready(f"http://127.0.0.1:{ports[name]}/health")
            asyncio.run(run_load(ports[name], auth, 300, 8))  # warm up
        for round_number in range(args.rounds):
            line = []
            order = list(gateways.items())
            for name, process in order if round_number % 2 == 0 else reversed(order):  # alternate who goes first
                before = cpu_seconds(process.pid)
                latencies = asyncio.run(run_load(ports[name], auth, args.requests, args.concurrency))
                per_request = (cpu_seconds(process.pid) - before) / len(latencies) * 1000
                figures[name].append(per_request)
                p50 = statistics.median(latencies) * 1000
                line.append(f"{name} {per_request:.3f} ms CPU/req (median latency {p50:.1f} ms)")
            print(f"round {round_number + 1}: " + " | ".join(line), flush=True)
    finally:
        for process in [*gateways.values(), upstream]:
            process.terminate()
        for process in [*gateways.values(), upstream]:
            process.wait(10)
        Path(config.name).unlink(missing_ok=True)
    for name, values in figures.items():
        print(f"{name}: median {statistics.median(values):.3f} ms CPU/request over {len(values)} rounds")
    if args.baseline is not None:
        ratio = statistics.median(figures["this"]) / statistics.median(figures["baseline"])
        print(f"this / baseline: {ratio:.2f}")


if __name__ == "__main__":
    main()
