"""A minimal, fast OpenAI-shaped upstream for benchmarks: fixed latency, fixed answer, raw ASGI.

python bench/upstream.py PORT LATENCY_MS CHUNKS CHUNK_INTERVAL_MS
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

LATENCY = 0.02
CHUNKS = 20
INTERVAL = 0.005

COMPLETION = json.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "bench",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Benchmark answer. " * 8, "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 12, "completion_tokens": 32, "total_tokens": 44},
    }
).encode()


def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
    payload = {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "bench",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }
    return b"data: " + json.dumps(payload).encode() + b"\n\n"


async def read_body(receive: Any) -> bytes:
    """The whole request body of an ASGI HTTP request."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            return body


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    body = await read_body(receive)
    stream = b'"stream":true' in body.replace(b" ", b"")
    await asyncio.sleep(LATENCY)
    if not stream:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": COMPLETION})
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]})
    await send({"type": "http.response.body", "body": chunk({"role": "assistant", "content": ""}), "more_body": True})
    # chunks on a fixed schedule from the first one, as a model emitting tokens at a steady rate: a relative
    # sleep after each send would drift with the CPU the process under test takes from this one per chunk
    loop = asyncio.get_running_loop()
    first = loop.time()
    for i in range(CHUNKS):
        await asyncio.sleep(max(0.0, first + (i + 1) * INTERVAL - loop.time()))
        await send({"type": "http.response.body", "body": chunk({"content": f"tok{i} "}), "more_body": True})
    await send({"type": "http.response.body", "body": chunk({}, "stop"), "more_body": True})
    if b"include_usage" in body:
        usage = {
            "id": "chatcmpl-bench",
            "object": "chat.completion.chunk",
            "created": 1700000000,
            "model": "bench",
            "choices": [],
            "usage": {"prompt_tokens": 12, "completion_tokens": CHUNKS, "total_tokens": 32},
        }
        await send(
            {"type": "http.response.body", "body": b"data: " + json.dumps(usage).encode() + b"\n\n", "more_body": True}
        )
    await send({"type": "http.response.body", "body": b"data: [DONE]\n\n"})


if __name__ == "__main__":
    import uvicorn

    port = int(sys.argv[1])
    LATENCY = float(sys.argv[2]) / 1000
    CHUNKS = int(sys.argv[3])
    INTERVAL = float(sys.argv[4]) / 1000
    uvicorn.run(
        app, host="127.0.0.1", port=port, log_level="warning", access_log=False, loop="uvloop", http="httptools"
    )
