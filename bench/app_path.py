"""CPU of the gateway's own request path, without the HTTP server or the upstream I/O.

    python bench/app_path.py [--requests N] [--rounds R] [--concurrency C] [--stream]

The real app (create_app, default layers, the bench config of bench/run.py) is called as an ASGI app
with in-memory receive/send, and its upstream is an in-process ``UpstreamPool`` that answers at once with the
same completion as bench/upstream.py. What is left is the part of a request between the server handing it
over and the server writing the answer: routing, middleware, auth, validation, the layers, the router and
the provider's translation, the response and the access log. Reported: process CPU per request, median
over rounds (the access log goes to /dev/null, as in bench/run.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import statistics
import sys
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import httpx

from bench.run import BODY, KEY, PATH
from bench.upstream import COMPLETION, chunk

CONFIG = {
    "models": [
        {
            "name": "bench",
            "provider": "openai",
            "model": "bench",
            "api_base": "http://upstream.invalid/v1",
            "api_key": "sk-upstream",
        }
    ]
}


def stream_body() -> bytes:
    pieces = [chunk({"role": "assistant", "content": ""})]
    pieces += [chunk({"content": f"token{i} "}) for i in range(20)]
    pieces.append(chunk({}, finish="stop"))
    usage = {"prompt_tokens": 12, "completion_tokens": 20, "total_tokens": 32}
    last = {"object": "chat.completion.chunk", "choices": [], "usage": usage}
    pieces.append(f"data: {json.dumps(last)}\n\n".encode())
    return b"".join(pieces) + b"data: [DONE]\n\n"


def upstream_transport() -> httpx.AsyncBaseTransport:
    """An in-process upstream on the gateway's own transport type, so provider calls take the same path as
    in production (``send_upstream`` hands ``UpstreamPool`` the request without building an
    ``httpx.Request``, and ``read_capped`` reads a pool body whole); only the socket I/O is left out."""
    from llm_gateway.transport.pool import ResponseBody, UpstreamPool

    streamed = stream_body()

    class InProcessBody(ResponseBody):
        def __init__(self, data: bytes) -> None:  # no connection behind it
            self._data = data

        async def read_all(self, limit: int) -> bytes | None:
            return self._data if len(self._data) <= limit else None

        async def __aiter__(self) -> AsyncIterator[bytes]:
            yield self._data

        async def aclose(self) -> None:
            return None

    class InProcessUpstream(UpstreamPool):
        async def send(
            self, method: str, url: str, headers: Mapping[str, str], content: bytes, timeouts: dict[str, Any]
        ) -> httpx.Response:
            await asyncio.sleep(0)  # a real upstream call gives the loop a turn: other requests go on meanwhile
            if b'"stream":true' in content.replace(b" ", b""):
                body, kind = streamed, "text/event-stream"
            else:
                body, kind = COMPLETION, "application/json"
            return httpx.Response(200, stream=InProcessBody(body), headers={"content-type": kind})

    return InProcessUpstream()


def build_app(*, routed: bool = False) -> Any:
    from llm_gateway.api.app import create_app
    from llm_gateway.aws.lambda_observability import instrument_app
    from llm_gateway.config import parse_config
    from llm_gateway.gateway import Gateway, GatewayOptions
    from llm_gateway.observability import configure_logging

    configure_logging("INFO")
    for handler in logging.getLogger("llm_gateway").handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(Path(os.devnull).open("w"))  # noqa: SIM115 (lives as long as the process)
    env = {"LLM_GATEWAY_MASTER_KEY": KEY}
    gateway = Gateway(GatewayOptions(config=parse_config(CONFIG), env=env, http_transport=upstream_transport()))
    app = create_app(gateway, direct_routes=False) if routed else create_app(gateway)
    instrument_app(app, env)
    gateway.ensure_ready()
    return app


async def call(app: Any, body: bytes) -> int:
    headers = [
        (b"host", b"127.0.0.1:8000"),
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"authorization", f"Bearer {KEY}".encode()),
    ]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 50000),
        "scheme": "http",
        "method": "POST",
        "root_path": "",
        "path": PATH,
        "raw_path": PATH.encode(),
        "query_string": b"",
        "headers": headers,
        "state": {},
    }
    sent = False
    status = 0

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # no disconnect while the request runs
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


async def run_round(app: Any, body: bytes, requests: int, concurrency: int) -> float:
    remaining = iter(range(requests))

    async def worker() -> None:
        for _ in remaining:
            status = await call(app, body)
            if status != 200:
                raise RuntimeError(f"HTTP {status}")

    started = time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return (time.process_time() - started) / requests


async def main_async(args: argparse.Namespace) -> list[float]:
    app = build_app(routed=args.routed)
    body = json.dumps({**BODY, "stream": True} if args.stream else BODY).encode()
    await run_round(app, body, 300, args.concurrency)  # warm up
    figures = []
    for _ in range(args.rounds):
        figures.append(await run_round(app, body, args.requests, args.concurrency) * 1000)
        await asyncio.sleep(0.05)  # let background usage writes finish outside the timed rounds' tail
    return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--stream", action="store_true")
    parser.add_argument("--routed", action="store_true", help="FastAPI routes chat completions (no direct route)")
    parser.add_argument("--uvloop", action="store_true", help="run on uvloop, as uvicorn does when installed")
    args = parser.parse_args()
    if args.uvloop:
        import uvloop

        figures = uvloop.run(main_async(args))
    else:
        figures = asyncio.run(main_async(args))
    kind = "stream" if args.stream else "non-stream"
    print(
        f"app path, {kind}, c={args.concurrency}: median {statistics.median(figures):.3f} ms CPU/request "
        f"(rounds: {', '.join(f'{f:.3f}' for f in figures)})",
        file=sys.stdout,
    )


if __name__ == "__main__":
    main()
