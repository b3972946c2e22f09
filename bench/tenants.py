"""What keys, limits, spend and guardrails add to a request: DynamoDB calls and latency, in one run.

In-process (httpx's ASGI transport, the ``mock`` provider answering at once), so the differences are
the layers themselves. DynamoDB is moto's server on loopback: its latency is not AWS's, so the calls
are counted (per operation, on the request path vs in the background) as well as timed.

    make bench-tenants            # or: .venv/bin/python bench/tenants.py --requests 300
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "shared"), str(ROOT)]
for _name, _value in (
    ("AWS_ACCESS_KEY_ID", "bench"),
    ("AWS_SECRET_ACCESS_KEY", "bench"),
    ("AWS_DEFAULT_REGION", "us-east-1"),
):
    os.environ.setdefault(_name, _value)  # moto accepts any credentials

import boto3  # noqa: E402
import httpx  # noqa: E402

from bench.moto_process import moto_server  # noqa: E402
from llm_gateway.api.app import create_app  # noqa: E402
from llm_gateway.api.auth import MasterKeyAuthenticator  # noqa: E402
from llm_gateway.aws.clients import AwsClients  # noqa: E402
from llm_gateway.aws.tables import create_tables  # noqa: E402
from llm_gateway.config import parse_config  # noqa: E402
from llm_gateway.core.service import ChatService  # noqa: E402
from llm_gateway.gateway import Gateway, GatewayOptions  # noqa: E402
from llm_gateway.tables.base import Tables  # noqa: E402
from llm_gateway.tables.dynamodb import DynamoTable, fixed_client  # noqa: E402
from llm_gateway.tables.memory import MemoryTable  # noqa: E402
from llm_gateway.tenants.keystore import KeyStore  # noqa: E402
from llm_gateway.tenants.records import new_key  # noqa: E402

MASTER = "sk-bench-master"
CONFIG: dict[str, Any] = {
    "models": [{"name": "bench", "provider": "mock", "model": "mock-1"}],
    "tenants": {"prices": {"bench": {"input": 1.0, "output": 2.0}}},
}
BODY = {"model": "bench", "messages": [{"role": "user", "content": "Say hello to jo@example.com please."}]}


class CallCounter:
    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()

    def __call__(self, model: Any, **_: Any) -> None:
        self.calls[model.name] += 1

    def take(self) -> Counter[str]:
        calls, self.calls = self.calls, Counter()
        return calls


def _gateway(env: dict[str, str], aws: Any = None, tables: Tables | None = None, bare: bool = False) -> Gateway:
    gateway = Gateway(
        GatewayOptions(
            config=parse_config(CONFIG), env={"LLM_GATEWAY_MASTER_KEY": MASTER, **env}, aws_clients=aws, tables=tables
        )
    ).ensure_ready()
    if bare:  # the pipeline as it is without this work: router only, master key only
        chat = replace(
            gateway.api.chat,
            service=ChatService(gateway.router, gateway.config.server),
            authenticator=MasterKeyAuthenticator(MASTER),
        )
        gateway.api = replace(gateway.api, chat=chat)
    return gateway


async def _run(
    gateway: Gateway, key: str, requests: int, counter: CallCounter | None, body: dict[str, Any]
) -> dict[str, Any]:
    app = create_app(gateway)
    transport = httpx.ASGITransport(app=app)
    headers = {"authorization": f"Bearer {key}"}
    timings: list[float] = []
    on_path: Counter[str] = Counter()
    background: Counter[str] = Counter()
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        for _ in range(20):  # warm up: imports, first lookups, connection pools
            (await client.post("/v1/chat/completions", json=body, headers=headers)).raise_for_status()
        await gateway.tenants.flush_usage()
        if counter:
            counter.take()
        for _ in range(requests):
            start = time.perf_counter()
            answer = await client.post("/v1/chat/completions", json=body, headers=headers)
            timings.append((time.perf_counter() - start) * 1000)
            answer.raise_for_status()
            if counter:
                on_path += counter.take()
            await gateway.tenants.flush_usage()
            if counter:
                background += counter.take()
    timings.sort()
    return {
        "median_ms": statistics.median(timings),
        "p95_ms": timings[int(len(timings) * 0.95) - 1],
        "on_path": {k: v / requests for k, v in on_path.items()},
        "background": {k: v / requests for k, v in background.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    with moto_server() as endpoint:
        _bench(endpoint, args.requests)


def _bench(endpoint: str, requests: int) -> None:
    client = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1")
    counter = CallCounter()
    client.meta.events.register("before-call.dynamodb", counter)
    env = create_tables(client, ROOT / "template.yaml", prefix="bench")
    aws = AwsClients(overrides={"dynamodb": client})
    store = KeyStore(DynamoTable(fixed_client(client), env["LLM_GATEWAY_KEYS_TABLE"]))
    limited, record = new_key(owner="bench", now=time.time(), rpm=10**6, tpm=10**9, budget_usd=10**6)
    asyncio.run(store.create(record))
    plain, record = new_key(owner="bench", now=time.time())
    asyncio.run(store.create(record))
    memory_keys = KeyStore(MemoryTable())
    memory_limited, record = new_key(owner="bench", now=time.time(), rpm=10**6, tpm=10**9, budget_usd=10**6)
    asyncio.run(memory_keys.create(record))
    memory = Tables(keys=memory_keys.table, state=MemoryTable(), usage=MemoryTable())
    pii = {**BODY, "guardrails": ["pii_redaction"]}

    scenarios = [
        ("without the layers (router only, master key)", _gateway({}, bare=True), MASTER, None, BODY),
        (
            "all layers, in-memory tables, key with rpm+tpm+budget",
            _gateway({}, tables=memory),
            memory_limited,
            None,
            BODY,
        ),
        ("  + pii_redaction guardrail", _gateway({}, tables=memory), memory_limited, None, pii),
        ("all layers, DynamoDB (moto), master key", _gateway(env, aws), MASTER, counter, BODY),
        ("all layers, DynamoDB (moto), key without limits", _gateway(env, aws), plain, counter, BODY),
        ("all layers, DynamoDB (moto), key with rpm+tpm+budget", _gateway(env, aws), limited, counter, BODY),
    ]
    print(f"{requests} sequential requests each, after 20 warm-up requests; mock provider; same process\n")
    print(f"{'scenario':58} {'median ms':>9} {'p95 ms':>7}  DynamoDB calls per request: on the request path | after")
    for name, gateway, key, count, body in scenarios:
        result = asyncio.run(_run(gateway, key, requests, count, body))
        calls = ""
        if count is not None:
            path = ", ".join(f"{op} {n:g}" for op, n in sorted(result["on_path"].items())) or "none"
            after = ", ".join(f"{op} {n:g}" for op, n in sorted(result["background"].items())) or "none"
            calls = f"{path} | {after}"
        print(f"{name:58} {result['median_ms']:9.2f} {result['p95_ms']:7.2f}  {calls}")


if __name__ == "__main__":
    main()
