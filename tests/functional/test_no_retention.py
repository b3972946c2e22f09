"""Nothing per request outlives its request: after streams (complete, cut by the client, failed) and
plain calls, no request context, parsed request or stream object is still reachable."""

from __future__ import annotations

import gc
import socket
import time
import weakref
from typing import Any

import httpx
import pytest

from llm_gateway.core.context import RequestContext
from llm_gateway.core.pipeline import OpenedStream
from llm_gateway.schemas.validation import ChatRequest
from tests.support.fake_openai import FakeOpenAI, Reply, Status
from tests.support.gateway import MASTER_KEY, openai_config, running_gateway

pytestmark = pytest.mark.slow

HEADERS = {"authorization": f"Bearer {MASTER_KEY}"}


KINDS = {"RequestContext": RequestContext, "ChatRequest": ChatRequest, "OpenedStream": OpenedStream}


def _instances() -> dict[int, weakref.ref[Any]]:
    gc.collect()
    return {id(o): weakref.ref(o) for o in gc.get_objects() if isinstance(o, tuple(KINDS.values()))}


def _alive(before: dict[int, weakref.ref[Any]]) -> dict[str, int]:
    """Instances made since ``before`` was taken (other tests' leftovers in this process do not count)."""
    counts = dict.fromkeys(KINDS, 0)
    for key, ref in _instances().items():
        obj = ref()
        old = before.get(key)
        if obj is not None and (old is None or old() is not obj):
            for name, kind in KINDS.items():
                if isinstance(obj, kind):
                    counts[name] += 1
    return counts


def test_requests_leave_no_objects_behind(fake_openai: FakeOpenAI) -> None:
    body = {"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]}
    before = _instances()
    with running_gateway(openai_config(fake_openai.v1)) as gateway:
        with httpx.Client(base_url=gateway.base_url, headers=HEADERS, timeout=10) as client:
            for _ in range(20):
                assert client.post("/v1/chat/completions", json=body).status_code == 200
                with client.stream("POST", "/v1/chat/completions", json={**body, "stream": True}) as response:
                    response.read()
            fake_openai.plan(Status(500), Status(400))
            assert client.post("/v1/chat/completions", json=body).status_code == 502
            assert client.post("/v1/chat/completions", json={**body, "stream": True}).status_code == 400
            assert client.post("/v1/chat/completions", json={"model": "gpt-test"}).status_code == 400
        fake_openai.default = Reply(text=" ".join(["word"] * 200), chunk_delay=0.05)
        for _ in range(5):  # clients that leave mid-stream
            payload = httpx.Request(
                "POST", f"{gateway.base_url}/v1/chat/completions", json={**body, "stream": True}, headers=HEADERS
            )
            sock = socket.create_connection(("127.0.0.1", gateway.port))
            head = "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\n" + "".join(
                f"{k}: {v}\r\n" for k, v in payload.headers.items() if k != "host"
            )
            sock.sendall(head.encode() + b"\r\n" + payload.read())
            received = b""
            while b"data:" not in received:
                received += sock.recv(65536)
            sock.close()
        deadline = time.monotonic() + 30  # stops a hang; it bounds nothing the test shows
        while (alive := _alive(before)) != {"RequestContext": 0, "ChatRequest": 0, "OpenedStream": 0}:
            assert time.monotonic() < deadline, f"still alive after the requests ended: {alive}"
            time.sleep(0.1)
