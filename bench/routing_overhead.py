"""What the routing machinery costs on the healthy path, in process, against the mock provider.

Three handlers answer the same requests in the same run, interleaved round by round:

- ``direct``: what the router did before reliable routing: weighted pick, build the call, call the provider;
- ``routing``: the full pipeline (idempotency layer + router with health view, retry loop, deadline
  timer, success bookkeeping), cooldown state in memory;
- ``routing+dynamodb``: the same with cooldown state in DynamoDB (moto over HTTP) behind the read cache.

Each sample is one non-stream completion or one whole stream. Usage: ``python bench/routing_overhead.py``
(``make bench-routing``); ``--requests`` and ``--rounds`` size the run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "shared"), str(ROOT)]
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")

from llm_gateway.config import parse_config  # noqa: E402
from llm_gateway.core.context import Principal, RequestContext  # noqa: E402
from llm_gateway.gateway import Gateway, GatewayOptions  # noqa: E402
from llm_gateway.routing import balancer  # noqa: E402
from llm_gateway.schemas.validation import validate_chat_request  # noqa: E402

CONFIG = {
    "models": [
        {"name": "bench", "provider": "mock", "model": "mock-a", "mock_response": "four words of answer"},
        {"name": "bench", "provider": "mock", "model": "mock-b", "mock_response": "four words of answer"},
    ]
}
MESSAGES = [{"role": "user", "content": "hello"}]


def context() -> RequestContext:
    return RequestContext(request_id="bench", principal=Principal(key_id="bench"), deadline=time.monotonic() + 60)


class Direct:
    """The pre-routing router: pick by weight, build the call, call the provider."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.router = gateway.router

    async def complete(self, request: Any, ctx: RequestContext) -> dict[str, Any]:
        deployment = balancer.pick(self.gateway.groups.get(request.model), self.router.rng)
        call = await self.router.build_call(deployment, request, ctx)
        ctx.attempts += 1
        result: dict[str, Any] = await self.gateway.providers.get(deployment.provider).complete(call)
        return result

    async def open_stream(self, request: Any, ctx: RequestContext) -> Any:
        deployment = balancer.pick(self.gateway.groups.get(request.model), self.router.rng)
        call = await self.router.build_call(deployment, request, ctx)
        chunks = self.gateway.providers.get(deployment.provider).stream(call)
        first = await anext(chunks)
        from llm_gateway.core.pipeline import OpenedStream

        return OpenedStream(first=first, rest=chunks, deployment=deployment)


async def one(handler: Any, stream: bool) -> None:
    request = validate_chat_request({"model": "bench", "messages": MESSAGES, "stream": stream})
    if stream:
        opened = await handler.open_stream(request, context())
        async for _ in opened.rest:
            pass
    else:
        await handler.complete(request, context())


async def timed(handler: Any, n: int, stream: bool) -> float:
    started = time.perf_counter()
    for _ in range(n):
        await one(handler, stream)
    return (time.perf_counter() - started) / n * 1e6


def dynamodb_gateway() -> tuple[Gateway, Any, Any]:
    import logging

    import boto3
    from moto.server import ThreadedMotoServer

    from llm_gateway.aws.clients import AwsClients
    from llm_gateway.aws.tables import create_tables

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    client = boto3.client("dynamodb", endpoint_url=f"http://{host}:{port}", region_name="us-east-1")
    env = create_tables(client, ROOT / "template.yaml", prefix="bench")
    calls: dict[str, int] = {}
    client.meta.events.register(
        "before-call.dynamodb", lambda model, **_: calls.__setitem__(model.name, calls.get(model.name, 0) + 1)
    )
    options = GatewayOptions(
        config=parse_config(CONFIG), env=env, aws_clients=AwsClients(overrides={"dynamodb": client})
    )
    return Gateway(options).ensure_ready(), server, calls


async def whole_app(requests: int, rounds: int) -> None:
    """For scale: the same comparison through the whole ASGI app (auth, parsing, JSON), in process."""
    import httpx

    from llm_gateway.api.app import create_app

    env = {"LLM_GATEWAY_MASTER_KEY": "sk-bench"}
    gateways = {
        name: Gateway(GatewayOptions(config=parse_config(CONFIG), env=env)).ensure_ready()
        for name in ("direct", "routing")
    }
    gateways["direct"].service.pipeline = Direct(gateways["direct"])
    body = {"model": "bench", "messages": MESSAGES}
    clients = {
        name: httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(g)), base_url="http://gw")
        for name, g in gateways.items()
    }
    headers = {"authorization": "Bearer sk-bench"}

    async def run(client: httpx.AsyncClient, n: int) -> float:
        started = time.perf_counter()
        for _ in range(n):
            response = await client.post("/v1/chat/completions", json=body, headers=headers)
            assert response.status_code == 200
        return (time.perf_counter() - started) / n * 1e6

    for client in clients.values():
        await run(client, 50)
    samples: dict[str, list[float]] = {name: [] for name in clients}
    for _ in range(rounds):
        for name, client in clients.items():
            samples[name].append(await run(client, requests // 2))
    base = statistics.median(samples["direct"])
    print(f"\nwhole app, complete: median per request over {rounds} rounds of {requests // 2} (interleaved)")
    for name, values in samples.items():
        median = statistics.median(values)
        print(f"  {name:18s} {median:8.1f} us   x{median / base:5.2f}   +{median - base:6.1f} us")


async def main(requests: int, rounds: int) -> None:
    plain = Gateway(GatewayOptions(config=parse_config(CONFIG), env={})).ensure_ready()
    with_table, moto, calls = dynamodb_gateway()
    handlers = {
        "direct": Direct(plain),
        "routing": plain.service.pipeline,
        "routing+dynamodb": with_table.service.pipeline,
    }
    for stream in (False, True):
        for handler in handlers.values():  # warm up imports, pools, caches
            await timed(handler, 50, stream)
        samples: dict[str, list[float]] = {name: [] for name in handlers}
        for _ in range(rounds):
            for name, handler in handlers.items():
                samples[name].append(await timed(handler, requests, stream))
        kind = "stream" if stream else "complete"
        base = statistics.median(samples["direct"])
        print(f"\n{kind}: median per request over {rounds} rounds of {requests} (interleaved)")
        for name, values in samples.items():
            median = statistics.median(values)
            print(f"  {name:18s} {median:8.1f} us   x{median / base:5.2f}   +{median - base:6.1f} us")
    await whole_app(requests, rounds)
    print(f"\nDynamoDB calls during the whole run: {calls or 'none'}")
    moto.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    try:  # the event loop uvicorn runs in production
        import uvloop

        uvloop.run(main(args.requests, args.rounds))
    except ImportError:
        asyncio.run(main(args.requests, args.rounds))
