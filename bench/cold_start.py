"""Cold start of the built Lambda artifact: import + init time in fresh python3.13 processes.

    python bench/cold_start.py .aws-sam/build-host [--runs 9] [--without-bytecode] [--json]

Each run is a new ``python3.13 -I -S`` process whose sys.path holds only the build output (the function
directory and the layer's ``python/``, as in Lambda), with the environment template.yaml gives the
functions (Powertools on, the bundled config). It times three phases:

- ``import``: ``import gateway`` (builds the FastAPI app, sets up logging and Powertools);
- ``init``: ``ensure_ready()`` (reads and validates the config, builds providers and the pipeline);
- ``first_invoke``: the first buffered invocation (events/chat-completion.json through Mangum);
- ``warm_invoke``: the median of 30 more invocations (the gateway's own time per request, mock model).

Wall times depend on how busy the machine is; ``import+init_cpu`` (the process's CPU time for import
and init) does much less, so compare that on a shared machine. ``--without-bytecode`` measures a copy of
the build without ``__pycache__`` and with bytecode writing off, i.e. what bare ``sam build`` output costs
on Lambda's read-only file system.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import json, sys, time
t0, c0 = time.perf_counter(), time.process_time()
import gateway
t1, c1 = time.perf_counter(), time.process_time()
gateway.app.state.gateway.ensure_ready()
t2, c2 = time.perf_counter(), time.process_time()

class Context:
    aws_request_id = "cold-start-bench"
    function_name = "BufferedFunction"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:BufferedFunction"
    def get_remaining_time_in_millis(self):
        return 900000

event = json.loads(open(sys.argv[1]).read())
response = gateway.handler(event, Context())
t3 = time.perf_counter()
assert response["statusCode"] == 200, response
warm = []
for _ in range(30):
    started = time.perf_counter()
    gateway.handler(event, Context())
    warm.append(time.perf_counter() - started)
warm.sort()
print(json.dumps({"import": t1 - t0, "init": t2 - t1, "first_invoke": t3 - t2, "warm_invoke": warm[len(warm) // 2],
                  "import+init_cpu": (c1 - c0) + (c2 - c1),
                  "modules": len(sys.modules), "boto3": "boto3" in sys.modules}), file=sys.stderr)
"""


def python313() -> str:
    return subprocess.check_output([str(ROOT / "scripts" / "python313.sh")], text=True).strip()


def lambda_env(function_dir: Path) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "LLM_GATEWAY_CONFIG": str(function_dir / "config.yaml"),
        "LLM_GATEWAY_MASTER_KEY_REF": "sk-local-gateway",
        "LLM_GATEWAY_OBSERVABILITY": "powertools",
        "LLM_GATEWAY_LOG_LEVEL": "WARNING",
        "POWERTOOLS_SERVICE_NAME": "llm-gateway",
        "POWERTOOLS_METRICS_NAMESPACE": "LlmGateway",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_LAMBDA_FUNCTION_NAME": "BufferedFunction",
    }


def measure(build_dir: Path, runs: int, *, write_bytecode: bool = True) -> list[dict[str, float]]:
    function_dir = build_dir / "BufferedFunction"
    layer_dir = build_dir / "SharedLayer" / "python"
    program = f"import sys; sys.path[:0] = [{str(function_dir)!r}, {str(layer_dir)!r}]\n" + CHILD
    env = lambda_env(function_dir)
    flags = ["-I", "-S"] if write_bytecode else ["-I", "-S", "-B"]  # -B: Lambda's code is read-only
    exe = python313()
    results = []
    for _ in range(runs):
        done = subprocess.run(
            [exe, *flags, "-c", program, str(ROOT / "events" / "chat-completion.json")],
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        if done.returncode != 0:
            raise SystemExit(f"run failed:\n{done.stdout}\n{done.stderr}")
        results.append(json.loads(done.stderr.strip().splitlines()[-1]))
    return results


def summary(results: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for phase in ("import", "init", "first_invoke", "warm_invoke"):
        values = [r[phase] * 1000 for r in results]
        out[phase] = {"median_ms": round(statistics.median(values), 1), "min_ms": round(min(values), 1)}
    totals = [(r["import"] + r["init"]) * 1000 for r in results]
    out["import+init"] = {"median_ms": round(statistics.median(totals), 1), "min_ms": round(min(totals), 1)}
    cpu = [r["import+init_cpu"] * 1000 for r in results]
    out["import+init_cpu"] = {"median_ms": round(statistics.median(cpu), 1), "min_ms": round(min(cpu), 1)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("build_dir", type=Path)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--without-bytecode", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    build_dir: Path = args.build_dir.resolve()
    report = {"with_bytecode": summary(measure(build_dir, args.runs))}
    if args.without_bytecode:
        with tempfile.TemporaryDirectory() as tmp:
            copy = Path(tmp) / "build"
            shutil.copytree(build_dir, copy, ignore=shutil.ignore_patterns("__pycache__"))
            report["without_bytecode"] = summary(measure(copy, args.runs, write_bytecode=False))
    report["load_average"] = {"1min": round(os.getloadavg()[0], 2), "cpus": os.cpu_count() or 0}
    if args.json:
        print(json.dumps(report, indent=2))
        return
    for variant, phases in report.items():
        print(f"{variant}:")
        for phase, figures in phases.items():
            print(f"  {phase:>14}: {figures}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
