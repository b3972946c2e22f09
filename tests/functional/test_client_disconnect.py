"""A client that leaves mid-stream: the gateway cancels the upstream request within a second, releases the
connection and its tasks, logs the request once with the usage so far, and prints no stack trace."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from typing import Any

import pytest

from tests.support.fake_openai import FakeOpenAI, Hang, Reply
from tests.support.gateway import MASTER_KEY, openai_config, running_gateway
from tests.support.servers import wait_until
from tests.support.tenants import usage_records

pytestmark = pytest.mark.slow

BODY = b'{"model":"gpt-test","stream":true,"messages":[{"role":"user","content":"count slowly"}]}'


def _send_chat(port: int, body: bytes = BODY) -> socket.socket:
    """A chat completion request sent on a raw socket (``body``: a stream by default), left to read."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nhost: gw\r\nauthorization: Bearer {MASTER_KEY}\r\n"
        f"content-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n"
    ).encode()
    sock.sendall(head + body)
    return sock


def _read_until(sock: socket.socket, marker: bytes, limit: float = 30) -> bytes:
    data = b""
    deadline = time.monotonic() + limit
    while marker not in data:
        assert time.monotonic() < deadline, data
        data += sock.recv(65536)
    return data


def _task_names(gateway: Any) -> set[str]:
    async def names() -> set[str]:
        current = asyncio.current_task()
        return {_kind(t) for t in asyncio.all_tasks() if t is not current}

    return asyncio.run_coroutine_threadsafe(names(), gateway.loop).result(timeout=5)


def _kind(task: asyncio.Task[Any]) -> str:
    name = task.get_coro().__qualname__ if task.get_coro() is not None else task.get_name()  # type: ignore[union-attr]
    if "serve" in name or "main_loop" in name:
        return "serve"
    if "lifespan" in name.lower() or "LifespanOn" in name:
        return "lifespan"
    return name


@pytest.mark.parametrize(
    ("chunk_delay", "marker", "streamed_tokens"),
    [(0.3, b"w1 ", 2), (3.0, b"data: ", 0)],
    ids=["chatty-upstream", "silent-upstream"],
)
def test_disconnect_cancels_the_upstream(
    fake_openai: FakeOpenAI, chunk_delay: float, marker: bytes, streamed_tokens: int, caplog: pytest.LogCaptureFixture
) -> None:
    words = " ".join(f"w{i}" for i in range(200))
    fake_openai.default = Reply(text=words, chunk_delay=chunk_delay)
    config = openai_config(fake_openai.v1)
    config["server"] = {"stream_heartbeat_seconds": 15}
    caplog.set_level(logging.INFO, logger="llm_gateway")
    with running_gateway(config) as gateway:
        sock = _send_chat(gateway.port)
        _read_until(sock, marker)  # the stream is live
        left_at = time.monotonic()
        sock.close()
        wait_until(lambda: fake_openai.chat_requests() and fake_openai.chat_requests()[-1].client_gone_at)
        upstream = fake_openai.chat_requests()[-1]
        cancel_after = upstream.client_gone_at - left_at  # type: ignore[operator]
        print(f"disconnect-to-cancel: {cancel_after * 1000:.0f} ms (chunk delay {chunk_delay}s)")
        # The gateway hung up on the upstream, which had a minute or more of its stream still to send.
        assert upstream.client_gone_at is not None and upstream.outcome != "completed"
        wait_until(lambda: any(r.name == "llm_gateway.access" for r in caplog.records))
        # Released: no connection left in the upstream pool, no task left but the server's own.
        wait_until(lambda: not gateway.gateway.transport.connection_count)  # type: ignore[attr-defined]
        wait_until(lambda: _task_names(gateway) <= {"serve", "lifespan"})
    access = [r for r in caplog.records if r.name == "llm_gateway.access"]
    assert len(access) == 1
    fields = access[0].fields  # type: ignore[attr-defined]
    assert fields["stream_status"] == "client_disconnected"
    assert fields["completion_tokens"] >= streamed_tokens  # the usage so far, estimated from what was streamed
    assert fields["prompt_tokens"] > 0
    assert fields["usage_estimated"] is True
    gateway_records = [r for r in caplog.records if r.name.startswith(("llm_gateway", "uvicorn"))]
    assert not [r for r in gateway_records if r.exc_info or r.levelno >= logging.ERROR]


def _released_and_recorded(gateway: Any, caplog: pytest.LogCaptureFixture) -> dict[str, Any]:
    """Once an abandoned request is logged and released (no upstream connection, no task left but the
    server's own), its one usage record (written with the ledger's next flush)."""
    wait_until(lambda: any(r.name == "llm_gateway.access" for r in caplog.records))
    wait_until(lambda: not gateway.gateway.transport.connection_count)
    wait_until(lambda: _task_names(gateway) <= {"serve", "lifespan"})
    spend = gateway.gateway.tenants.spend
    wait_until(lambda: usage_records(spend, "master", 0, time.time() + 60))
    (record,) = usage_records(spend, "master", 0, time.time() + 60)
    return record


NON_STREAM_BODY = b'{"model":"gpt-test","messages":[{"role":"user","content":"take your time"}]}'


def test_a_non_stream_client_that_leaves_cancels_the_upstream_call(
    fake_openai: FakeOpenAI, caplog: pytest.LogCaptureFixture
) -> None:
    fake_openai.default = Hang()  # only the gateway hanging up can end this upstream call
    caplog.set_level(logging.INFO, logger="llm_gateway")
    with running_gateway(openai_config(fake_openai.v1)) as gateway:
        sock = _send_chat(gateway.port, NON_STREAM_BODY)
        wait_until(fake_openai.chat_requests)  # the upstream call is under way
        left_at = time.monotonic()
        sock.close()
        wait_until(lambda: fake_openai.chat_requests()[-1].client_gone_at)
        upstream = fake_openai.chat_requests()[-1]
        cancel_after = upstream.client_gone_at - left_at  # type: ignore[operator]
        print(f"non-stream disconnect-to-cancel: {cancel_after * 1000:.0f} ms")
        assert upstream.client_gone_at is not None and upstream.outcome != "completed"
        record = _released_and_recorded(gateway, caplog)
        assert record["status"] == "aborted" and record["stream"] is False
        # the gateway goes on serving, on a fresh connection
        fake_openai.default = Reply(text="quick")
        with httpx_client(gateway.port) as client:
            answer = client.post("/v1/chat/completions", content=NON_STREAM_BODY)
        assert answer.status_code == 200 and answer.json()["choices"][0]["message"]["content"] == "quick"
    access = [r.fields for r in caplog.records if r.name == "llm_gateway.access"]  # type: ignore[attr-defined]
    assert [(f["status"], f.get("error_code")) for f in access] == [(499, "client_disconnected"), (200, None)]
    gateway_records = [r for r in caplog.records if r.name.startswith(("llm_gateway", "uvicorn"))]
    assert not [r for r in gateway_records if r.exc_info or r.levelno >= logging.ERROR]


FRONTS = {
    "serve": {},  # make serve, a container: uvicorn straight
    "web-adapter": {"AWS_LAMBDA_FUNCTION_NAME": "gateway"},  # run.sh as the Lambda Web Adapter runs it
    "managed-instances": {
        "AWS_LAMBDA_FUNCTION_NAME": "gateway",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "lambda-managed-instances",
    },
}


@pytest.mark.parametrize("front", sorted(FRONTS))
@pytest.mark.parametrize("held", ["head", "first-chunk"])
def test_a_stream_abandoned_before_its_first_chunk_cancels_the_upstream_call(
    fake_openai: FakeOpenAI, caplog: pytest.LogCaptureFixture, front: str, held: str
) -> None:
    release = threading.Event()  # the upstream thinks until released: only the gateway hanging up ends it
    fake_openai.default = Reply(
        text="too late", **({"hold": release} if held == "head" else {"hold_first_chunk": release})
    )
    caplog.set_level(logging.INFO, logger="llm_gateway")
    try:
        with running_gateway(openai_config(fake_openai.v1), env=FRONTS[front]) as gateway:
            sock = _send_chat(gateway.port)
            wait_until(fake_openai.chat_requests)  # the upstream call is under way, nothing streamed yet
            sock.close()
            wait_until(lambda: fake_openai.chat_requests()[-1].client_gone_at)  # the gateway hung up, unreleased
            upstream = fake_openai.chat_requests()[-1]
            assert upstream.outcome != "completed"
            record = _released_and_recorded(gateway, caplog)
            # billed as an abandoned stream: the prompt (estimated), nothing generated
            assert (record["status"], record["stream"]) == ("aborted", True)
            assert record["completion_tokens"] == 0 and record["prompt_tokens"] > 0
            # the gateway goes on serving streams, on a fresh connection
            release.set()
            fake_openai.default = Reply(text="quick")
            with httpx_client(gateway.port) as client:
                answer = client.post("/v1/chat/completions", content=BODY)
            assert answer.status_code == 200 and "quick" in answer.text and answer.text.endswith("data: [DONE]\n\n")
    finally:
        release.set()
    access = [r.fields for r in caplog.records if r.name == "llm_gateway.access"]  # type: ignore[attr-defined]
    assert [(f["status"], f.get("error_code")) for f in access] == [(499, "client_disconnected"), (200, None)]
    gateway_records = [r for r in caplog.records if r.name.startswith(("llm_gateway", "uvicorn"))]
    assert not [r for r in gateway_records if r.exc_info or r.levelno >= logging.ERROR]


def test_a_non_stream_request_runs_to_the_end_when_watching_is_off(fake_openai: FakeOpenAI) -> None:
    fake_openai.default = Reply(text="a slow answer", delay=0.5)
    config = openai_config(fake_openai.v1)
    config["server"] = {"cancel_on_client_disconnect": False}
    with running_gateway(config) as gateway:
        sock = _send_chat(gateway.port, NON_STREAM_BODY)
        wait_until(fake_openai.chat_requests)
        sock.close()
        wait_until(lambda: fake_openai.chat_requests()[-1].outcome != "pending")
        assert fake_openai.chat_requests()[-1].outcome == "completed"


def httpx_client(port: int) -> Any:
    import httpx

    return httpx.Client(
        base_url=f"http://127.0.0.1:{port}", headers={"authorization": f"Bearer {MASTER_KEY}"}, timeout=10
    )
