"""What flushing the ledger before Lambda can freeze the environment adds to an invocation.

Under Lambda on demand (``AWS_LAMBDA_FUNCTION_NAME`` set) each request writes its own usage record and sums
before its answer ends. This runs the app in process (httpx's ASGI transport, the ``mock`` provider) with the
Lambda environment, DynamoDB on moto in a process of its own, and reports per request: the flush's own
duration (the ledger times it), and the whole request with the tables against the same app without them.

    .venv/bin/python -m bench.lambda_flush [--requests 300]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from typing import Any

import httpx

from llm_gateway.api.app import create_app
from llm_gateway.config import parse_config
from llm_gateway.gateway import Gateway, GatewayOptions
from llm_gateway.local.dynamodb import start_embedded_dynamodb

MASTER = "sk-bench-master"
CONFIG: dict[str, Any] = {
    "models": [{"name": "bench", "provider": "mock", "model": "mock-1"}],
    "tenants": {"prices": {"bench": {"input": 1.0, "output": 2.0}}},
}
BODY = {"model": "bench", "messages": [{"role": "user", "content": "Say hello."}]}
LAMBDA = {"AWS_LAMBDA_FUNCTION_NAME": "llm-gateway", "LLM_GATEWAY_MASTER_KEY": MASTER}


async def _run(env: dict[str, str], requests: int) -> dict[str, float]:
    gateway = Gateway(GatewayOptions(config=parse_config(CONFIG), env=env)).ensure_ready()
    transport = httpx.ASGITransport(app=create_app(gateway))
    ledger = gateway.tenants.ledger
    totals, flushes = [], []
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        headers = {"authorization": f"Bearer {MASTER}"}
        for number in range(requests + 20):
            before = ledger.stats.flushes
            started = time.perf_counter()
            (await client.post("/v1/chat/completions", json=BODY, headers=headers)).raise_for_status()
            if number >= 20:  # after the warm-up
                totals.append((time.perf_counter() - started) * 1000)
                if ledger.stats.flushes > before:
                    flushes.append(ledger.stats.last_ms)
    return {
        "request_median_ms": statistics.median(totals),
        "flush_median_ms": statistics.median(flushes) if flushes else 0.0,
        "flush_p95_ms": sorted(flushes)[int(len(flushes) * 0.95) - 1] if flushes else 0.0,
        "flushes_per_request": len(flushes) / requests,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    embedded = start_embedded_dynamodb(prefix="lambda-flush")
    try:
        with_tables = asyncio.run(_run({**LAMBDA, **embedded.env}, args.requests))
        without = asyncio.run(_run(LAMBDA, args.requests))
    finally:
        embedded.stop()
    added = with_tables["request_median_ms"] - without["request_median_ms"]
    print(f"{args.requests} sequential requests, Lambda on demand, DynamoDB (moto) in its own process")
    print(
        f"flush per invocation: median {with_tables['flush_median_ms']:.2f} ms, "
        f"p95 {with_tables['flush_p95_ms']:.2f} ms"
    )
    print(f"flushes per request: {with_tables['flushes_per_request']:.2f}")
    print(
        f"request median: {with_tables['request_median_ms']:.2f} ms with tables, "
        f"{without['request_median_ms']:.2f} ms without (+{added:.2f} ms)"
    )


if __name__ == "__main__":
    main()
