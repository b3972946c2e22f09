"""The least a Python proxy on this stack can add: a bare ASGI app under the same uvicorn as the gateway (the
same HTTP protocol too, httptools) that forwards the body to the upstream
through the gateway's own connection pool and returns the answer, untouched.

No authentication, validation, routing, translation, accounting or logging. ``make bench`` measures it next
to the gateway in the same run, so the table separates the platform's share of the added latency (an HTTP
server, one more hop, the event loop waking up) from the gateway's own work.

    uvicorn bench.floor_proxy:app   (with FLOOR_UPSTREAM=http://127.0.0.1:PORT/v1/chat/completions)
"""

from __future__ import annotations

import os
from typing import Any

import httpx

from bench.upstream import read_body
from llm_gateway.transport.pool import ResponseBody, UpstreamPool

_pool: UpstreamPool | None = None
TIMEOUTS = httpx.Timeout(30).as_dict()
BODY_LIMIT = 64 * 1024 * 1024


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    global _pool
    if scope["type"] != "http":
        return
    if scope["path"] == "/health":
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"ok"})
        return
    body = await read_body(receive)
    if _pool is None:
        _pool = UpstreamPool()
    response = await _pool.send(
        "POST", os.environ["FLOOR_UPSTREAM"], {"content-type": "application/json"}, body, TIMEOUTS
    )
    try:
        streamed = response.headers.get("content-type", "").startswith("text/event-stream")
        headers = [(b"content-type", response.headers.get("content-type", "application/json").encode())]
        if streamed:
            await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
            async for piece in response.aiter_raw():
                await send({"type": "http.response.body", "body": piece, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        else:
            # read whole, as the gateway reads a non-stream answer (one wake-up, not one per received piece)
            assert isinstance(response.stream, ResponseBody)
            data = await response.stream.read_all(BODY_LIMIT) or b""
            headers.append((b"content-length", str(len(data)).encode()))
            await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
            await send({"type": "http.response.body", "body": data})
    finally:
        await response.aclose()
