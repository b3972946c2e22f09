"""What each library bypass buys: the gateway as shipped against the gateway with one bypass put back on the
library's own path by its setting, in one run, in the two ways the product is deployed.

    python -m bench.bypasses [--rounds 8] [--c1-requests 150] [--c32-requests 3200] [--only NAME ...]
    make bench-bypasses

- **one request at a time** (Lambda on demand: one request per execution environment): sequential
  requests on one keep-alive connection; the figures are the added latency (median over every request of
  every round) and the gateway's CPU per request.
- **many requests per process** (Lambda Managed Instances behind the Web Adapter, a container): 32
  keep-alive clients starting over one upstream latency; CPU per request, added median and p99.

Every gateway runs at once (one process each, the flags of ``handlers/run.sh``) against one fake upstream
with a fixed 20 ms latency (``bench/upstream.py``); each round loads the upstream directly, then every
gateway in turn, in an order that rotates from round to round, so drift in the machine's load hits every
side alike. A variant's ratio is its figure over the shipped gateway's in the same round, median over the
rounds: above 1, the bypass saves that much. (The gateway's own multi-process server was compared with
uvicorn's ``--workers`` by a ``--workers`` mode of this script, removed with it: see its history and
docs/decisions/0004-worker-processes.md.)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.run import KEY, ROOT, cpu_seconds, free_port, percentile, run_load, wait_ready


@dataclass
class Side:
    """One server under load: how it is started, and what it measured."""

    name: str
    app: str = "gateway:app"
    http: str = "llm_gateway.api.slow_clients:BoundedHttpTools"
    env: dict[str, str] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    figures: dict[str, list[float]] = field(default_factory=dict)
    latencies: dict[str, list[float]] = field(default_factory=dict)

    def record(self, key: str, value: float) -> None:
        self.figures.setdefault(key, []).append(value)


SIDES = {
    "shipped": Side("shipped"),
    "control": Side("control"),  # the shipped gateway again: how far two identical processes drift apart
    "httpx-transport": Side("httpx-transport", config={"server": {"upstream_http": "httpx"}}),
    "fastapi-routing": Side("fastapi-routing", env={"LLM_GATEWAY_DIRECT_ROUTES": "0"}),
    "uvicorn-httptools": Side("uvicorn-httptools", http="httptools"),  # no bounds on slow clients
}


def start(side: Side, up_port: int, env: dict[str, str], tmp: Path) -> None:
    config = {
        "models": [
            {
                "name": "bench",
                "provider": "openai",
                "model": "bench",
                "api_base": f"http://127.0.0.1:{up_port}/v1",
                "api_key": "sk-upstream",
            }
        ],
        **side.config,
    }
    path = tmp / f"{side.name}.json"
    path.write_text(json.dumps(config))  # JSON is YAML
    side.port = free_port()
    env = {**env, **side.env, "LLM_GATEWAY_CONFIG": str(path)}
    command = [sys.executable, "-m", "uvicorn", "--host", "127.0.0.1", "--port", str(side.port)]
    command += ["--no-access-log", "--no-proxy-headers", "--http", side.http, "--log-level", "warning", side.app]
    side.process = subprocess.Popen(command, cwd=ROOT / "handlers", env=env, stdout=subprocess.DEVNULL)


def measure(side: Side, port: int, headers: dict[str, str], mode: str, n: int, concurrency: int, spread: float) -> None:
    assert side.process is not None
    before = cpu_seconds(side.process.pid)
    latencies = asyncio.run(run_load(port, headers, n, concurrency, spread))
    side.record(f"{mode}_cpu_ms", (cpu_seconds(side.process.pid) - before) / len(latencies) * 1000)
    side.record(f"{mode}_median_ms", statistics.median(latencies) * 1000)
    side.latencies.setdefault(mode, []).extend(latencies)


def report(sides: list[Side], direct: Side, modes: list[str]) -> dict[str, Any]:
    shipped = sides[0]
    out: dict[str, Any] = {}
    for mode in modes:
        d = direct.latencies[mode]
        print(f"\n{mode}: direct median {statistics.median(d) * 1000:.2f} ms, p99 {percentile(d, 0.99) * 1000:.2f} ms")
        print(f"{'side':22} | CPU ms/req | x shipped | added median | added p99 | median x shipped (per round)")
        for side in sides:
            g = side.latencies[mode]
            cpu = side.figures[f"{mode}_cpu_ms"]
            cpu_ratio = statistics.median(a / b for a, b in zip(cpu, shipped.figures[f"{mode}_cpu_ms"], strict=True))
            medians = side.figures[f"{mode}_median_ms"]
            median_ratio = statistics.median(
                a / b for a, b in zip(medians, shipped.figures[f"{mode}_median_ms"], strict=True)
            )
            added = (statistics.median(g) - statistics.median(d)) * 1000
            added_p99 = (percentile(g, 0.99) - percentile(d, 0.99)) * 1000
            print(
                f"{side.name:22} | {statistics.median(cpu):10.3f} | {cpu_ratio:9.2f} | {added:9.2f} ms | "
                f"{added_p99:6.2f} ms | {median_ratio:.3f}"
            )
            out.setdefault(mode, {})[side.name] = {
                "cpu_ms_per_request": statistics.median(cpu),
                "cpu_ratio_to_shipped": cpu_ratio,
                "added_median_ms": added,
                "added_p99_ms": added_p99,
                "median_ratio_to_shipped": median_ratio,
                "cpu_ms_per_round": cpu,
            }
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--c1-requests", type=int, default=150)
    parser.add_argument("--c32-requests", type=int, default=3200)
    parser.add_argument("--only", nargs="*", choices=[name for name in SIDES if name != "shipped"])
    parser.add_argument("--baseline", type=Path, help="another source tree, measured as one more side")
    parser.add_argument("--baseline-http", default="httptools", help="the --http value that tree serves with")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    sides = [SIDES["shipped"], *(SIDES[name] for name in args.only or SIDES if name != "shipped")]
    if args.baseline is not None:  # its package first on the path; handlers/gateway.py is this tree's
        tree = args.baseline.resolve()
        path = {"PYTHONPATH": f"{tree / 'shared'}:{tree / 'handlers'}:{tree}"}
        sides.append(Side("baseline", http=args.baseline_http, env=path))
    modes = {"c1": (1, args.c1_requests, 0.0), "c32": (32, args.c32_requests, 0.02)}
    up_port = free_port()
    upstream = subprocess.Popen([sys.executable, str(ROOT / "bench" / "upstream.py"), str(up_port), "20", "20", "5"])
    env = {
        **os.environ,
        "LLM_GATEWAY_MASTER_KEY": KEY,
        "PYTHONPATH": f"{ROOT / 'shared'}:{ROOT / 'handlers'}:{ROOT}",
    }
    auth = {"authorization": f"Bearer {KEY}"}
    direct = Side("direct")
    direct.process = upstream
    with tempfile.TemporaryDirectory() as tmp:
        try:
            for side in sides:
                start(side, up_port, env, Path(tmp))
            wait_ready(f"http://127.0.0.1:{up_port}/health")
            for side in sides:
                wait_ready(f"http://127.0.0.1:{side.port}/health")
                asyncio.run(run_load(side.port, auth, 400, 32))  # warm up (every worker gets connections)
            asyncio.run(run_load(up_port, {}, 400, 32))
            for round_number in range(args.rounds):
                turn = round_number % len(sides)
                order = sides[turn:] + sides[:turn]
                for mode, (concurrency, n, spread) in modes.items():
                    measure(direct, up_port, {}, mode, n, concurrency, spread)
                    for side in order:
                        measure(side, side.port, auth, mode, n, concurrency, spread)
                print(f"round {round_number + 1} of {args.rounds} done", file=sys.stderr, flush=True)
        finally:
            for process in [upstream, *(side.process for side in sides)]:
                if process is not None:
                    process.terminate()
            for process in [upstream, *(side.process for side in sides)]:
                if process is not None:
                    process.wait(15)
    results = report(sides, direct, list(modes))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
