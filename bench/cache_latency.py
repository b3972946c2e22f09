"""What a cache hit costs beyond its DynamoDB read, measured in one run.

The gateway runs under uvicorn with DynamoDB on moto (a real HTTP endpoint) and a local fake upstream.
The DynamoDB client is wrapped to time every ``get_item`` call (the blocking boto3 call itself, in its
thread). For each hit, the openai SDK's wall time for the whole request minus that request's
``get_item`` time is the latency the gateway adds over the read: HTTP, auth, validation, key hashing,
decompression, the thread hop, response encoding.

    make bench-cache            (REQUESTS=300 by default)

The server runs on uvloop, as ``uvicorn`` picks it in production: on the plain asyncio loop (the test
harness's ``UvicornThread``) every response on a kept-alive connection waits ~40 ms for a delayed ACK,
which would swamp the numbers.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "shared"), str(ROOT)]
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


@contextmanager
def serve_on_uvloop(app: Any) -> Iterator[str]:
    import uvicorn
    import uvloop
    from tests.support.servers import free_socket

    sock = free_socket()
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, http="httptools"))

    def run() -> None:
        loop = uvloop.new_event_loop()
        asyncio.set_event_loop(loop)
        loop.run_until_complete(server.serve(sockets=[sock]))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def main() -> None:
    import logging

    import boto3
    import httpx
    import openai
    from tests.support.cache import HI, FaultyDynamoDB, cache_config
    from tests.support.fake_openai import FakeOpenAI
    from tests.support.gateway import MASTER_KEY, make_gateway

    from llm_gateway.api.app import create_app
    from llm_gateway.aws.tables import create_tables

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    requests = int(os.environ.get("REQUESTS", "300"))
    # moto in its own process, so the table's work does not compete with the gateway for the GIL
    from bench.moto_process import moto_server

    resources = ExitStack()
    endpoint = resources.enter_context(moto_server())
    tables = create_tables(boto3.client("dynamodb", endpoint_url=endpoint), ROOT / "template.yaml", prefix="bench")
    upstream = FakeOpenAI().start()
    dynamodb = FaultyDynamoDB(endpoint)
    env = {"AWS_ENDPOINT_URL_DYNAMODB": endpoint, **tables}
    try:
        gateway = make_gateway(cache_config(upstream, timeout=5.0), env, aws_clients=dynamodb)
        with serve_on_uvloop(create_app(gateway)) as base_url:
            client = openai.OpenAI(base_url=base_url + "/v1", api_key=MASTER_KEY, max_retries=0)
            client.chat.completions.create(model="gpt-test", messages=HI)  # miss: stores
            for _ in range(20):  # warm-up
                client.chat.completions.create(model="gpt-test", messages=HI)
            totals: list[float] = []
            reads: list[float] = []
            for _ in range(requests):
                before = len(dynamodb.seconds["get_item"])
                started = time.perf_counter()
                raw = client.chat.completions.with_raw_response.create(model="gpt-test", messages=HI)
                totals.append(time.perf_counter() - started)
                assert raw.headers["x-llm-gateway-cache"] == "hit"
                (read,) = dynamodb.seconds["get_item"][before:]
                reads.append(read)
            raw_totals: list[float] = []
            raw_reads: list[float] = []
            with httpx.Client(base_url=base_url, headers={"authorization": f"Bearer {MASTER_KEY}"}) as http:
                for _ in range(requests):
                    before = len(dynamodb.seconds["get_item"])
                    started = time.perf_counter()
                    response = http.post("/v1/chat/completions", json={"model": "gpt-test", "messages": HI})
                    raw_totals.append(time.perf_counter() - started)
                    assert response.headers["x-llm-gateway-cache"] == "hit"
                    (read,) = dynamodb.seconds["get_item"][before:]
                    raw_reads.append(read)
            bypass: list[float] = []
            for _ in range(requests):
                started = time.perf_counter()
                client.chat.completions.create(model="gpt-test", messages=HI, extra_body={"caching": False})
                bypass.append(time.perf_counter() - started)
    finally:
        upstream.stop()
        resources.close()
    added = [t - r for t, r in zip(totals, reads, strict=True)]
    raw_added = [t - r for t, r in zip(raw_totals, raw_reads, strict=True)]
    print(f"{requests} cache hits through the openai SDK (uvicorn+uvloop; moto in another process)")
    for name, values in (
        ("whole hit request", totals),
        ("its get_item", reads),
        ("added over get_item", added),
        ("same, raw httpx client", raw_added),
        ("bypass to local fake", bypass),
    ):
        print(
            f"  {name:22s} median {statistics.median(values) * 1000:7.2f} ms"
            f"   p90 {pct(values, 0.9):7.2f} ms   p99 {pct(values, 0.99):7.2f} ms"
        )


if __name__ == "__main__":
    main()
