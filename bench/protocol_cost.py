"""The HTTP protocol's own cost per keep-alive request, in process: uvicorn's httptools protocol, or the
gateway's ``BoundedHttpTools`` around it (api/slow_clients.py), fed N requests through a fake transport,
with a trivial ASGI app that reads the body and answers.

    python -m bench.protocol_cost httptools|bounded N

Prints process CPU per request. On a shared machine compare instruction counts instead (repeatable):
run it under ``valgrind --tool=callgrind`` with two values of N and divide the difference of the totals
by the difference of N (bench/README.md).
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

import uvloop
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from llm_gateway.api.slow_clients import DEFAULT_BOUNDS, STATE_KEY, BoundedHttpTools

BODY = b'{"model":"bench","messages":[{"role":"user","content":"Say something for the benchmark."}],"max_tokens":64}'
REQUEST = (
    b"POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
    b"authorization: Bearer sk-bench\r\ncontent-length: %d\r\n\r\n" % len(BODY)
) + BODY


async def app(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": b'{"ok":true}'})


class Transport:
    """Just enough of a socket transport: keeps what is written (``data``), and each write resolves
    ``written`` (when set)."""

    def __init__(self, keep: bool = False) -> None:
        self.written: asyncio.Future[None] | None = None
        self.keep = keep
        self.data = b""

    def write(self, data: bytes) -> None:
        if self.keep:
            self.data += data
        if self.written is not None and not self.written.done():
            self.written.set_result(None)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 50000)}.get(name, default)

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        return None

    def pause_reading(self) -> None:
        return None

    def resume_reading(self) -> None:
        return None


async def per_request(kind: str, n: int) -> float:
    config = Config(app=app, lifespan="off", log_level="warning", access_log=False, proxy_headers=False)
    config.load()
    loop = asyncio.get_running_loop()
    protocol: Any
    if kind == "bounded":
        protocol = BoundedHttpTools(config, ServerState(), {STATE_KEY: DEFAULT_BOUNDS}, loop)
    else:
        protocol = HttpToolsProtocol(config=config, server_state=ServerState(), app_state={}, _loop=loop)
    transport = Transport()
    protocol.connection_made(transport)
    started = time.process_time()
    for _ in range(n):
        transport.written = loop.create_future()
        protocol.data_received(REQUEST)
        await transport.written
        await asyncio.sleep(0)  # the request's task ends
    return (time.process_time() - started) / n


def main() -> None:
    kind, n = sys.argv[1], int(sys.argv[2])
    print(f"{kind}: {uvloop.run(per_request(kind, n)) * 1e6:.2f} µs CPU per request")


if __name__ == "__main__":
    main()
