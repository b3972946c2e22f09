"""Streams are forwarded chunk by chunk, end in [DONE], and never end silently on a failure."""

from __future__ import annotations

import logging

import httpx
import openai
import pytest

from tests.support.fake_openai import CutStream, ErrorFrame, FakeOpenAI, MalformedFrame, Reply, Status
from tests.support.pacing import FirstBeforeLast
from tests.support.servers import wait_until
from tests.support.sse import SSEMessage, check_stream, iter_sse_lines, parse_sse_lines

pytestmark = pytest.mark.slow

USER = [{"role": "user", "content": "count"}]


def stream_messages(http: httpx.Client, body: dict) -> tuple[int, list[SSEMessage]]:
    with http.stream("POST", "/v1/chat/completions", json={"stream": True, "messages": USER, **body}) as response:
        if response.status_code != 200:
            response.read()
            return response.status_code, []
        return 200, parse_sse_lines(response.iter_lines())


def test_chunks_arrive_while_the_upstream_is_still_producing(http: httpx.Client, fake_openai: FakeOpenAI) -> None:
    """The upstream holds its last chunk until the client has the first word: a buffering gateway would
    leave the client with nothing, and the hold would give up."""
    pacing = FirstBeforeLast()
    fake_openai.plan(Reply(text="one two three four five six", last_waits_for=pacing))
    with http.stream(
        "POST", "/v1/chat/completions", json={"stream": True, "messages": USER, "model": "gpt-test"}
    ) as response:
        assert response.status_code == 200
        messages = []
        for message in iter_sse_lines(response.iter_lines()):
            messages.append(message)
            if '"content": "one ' in message.data or '"content":"one ' in message.data:
                pacing.client_has_first()
    _chunks, error = check_stream(messages)
    assert error is None
    assert pacing.in_order  # the client had the first word before the upstream produced its last chunk


def test_mock_stream_is_incremental_too(http: httpx.Client, caplog: pytest.LogCaptureFixture) -> None:
    """The client has the mock's first word while the mock still has a hundred to send (100 ms apart):
    it leaves then, and the gateway logs the stream as cut short by its client, not as complete."""
    caplog.set_level(logging.INFO, logger="llm_gateway")
    words = " ".join(f"w{i}" for i in range(100))
    body = {"model": "mock-stream", "stream": True, "messages": USER, "mock_response": words}
    with http.stream("POST", "/v1/chat/completions", json=body) as response:
        assert response.status_code == 200
        assert any('"w0' in message.data for message in iter_sse_lines(response.iter_lines()))

    def stream_line() -> dict | None:
        lines = [r.fields for r in caplog.records if r.name == "llm_gateway.access"]  # type: ignore[attr-defined]
        return next((line for line in lines if line.get("model") == "mock-stream"), None)

    wait_until(stream_line)
    assert stream_line()["stream_status"] == "client_disconnected"  # type: ignore[index]


def test_heartbeat_comments_keep_a_silent_stream_alive(gateway: object, fake_openai: FakeOpenAI) -> None:
    fake_openai.plan(Reply(text="a b", chunk_delay=0.8))
    raw_lines: list[str] = []
    with httpx.Client(base_url=gateway.base_url, timeout=30) as plain:  # type: ignore[attr-defined]
        from tests.support.gateway import MASTER_KEY

        with plain.stream(
            "POST",
            "/v1/chat/completions",
            headers={"authorization": f"Bearer {MASTER_KEY}"},
            json={"model": "gpt-test", "messages": USER, "stream": True},
        ) as response:
            raw_lines = list(response.iter_lines())
    assert ": ping" in raw_lines
    check_stream(parse_sse_lines(raw_lines))


@pytest.mark.parametrize(
    ("fault", "code"),
    [
        (CutStream(after=2), "upstream_stream_cut"),
        (MalformedFrame(after=2), "upstream_bad_response"),
        (ErrorFrame(after=2), "upstream_error"),
    ],
)
def test_failure_after_first_byte_ends_with_an_error_frame(
    http: httpx.Client, fake_openai: FakeOpenAI, fault: object, code: str
) -> None:
    fake_openai.plan(fault)  # type: ignore[arg-type]
    status, messages = stream_messages(http, {"model": "gpt-test"})
    assert status == 200
    chunks, error = check_stream(messages)  # validates every frame, requires [DONE] or an error frame
    assert chunks, "the chunks before the failure were delivered"
    assert error is not None and error["error"]["code"] == code
    assert messages[-1].data != "[DONE]"


def test_openai_sdk_raises_on_an_error_frame(client: openai.OpenAI, fake_openai: FakeOpenAI) -> None:
    fake_openai.plan(CutStream(after=2))
    received = []
    with pytest.raises(openai.APIError):
        for chunk in client.chat.completions.create(model="gpt-test", messages=USER, stream=True):
            received.append(chunk)
    assert received


def test_failure_before_first_byte_is_a_real_http_error(http: httpx.Client, fake_openai: FakeOpenAI) -> None:
    fake_openai.plan(Status(503, "overloaded", error_type="server_error"))
    response = http.post("/v1/chat/completions", json={"model": "gpt-test", "messages": USER, "stream": True})
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "upstream_error"
