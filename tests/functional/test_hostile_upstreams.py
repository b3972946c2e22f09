"""Upstreams that trickle, flood, hang, send garbage or hide errors in a 200: every one is bounded by a
timeout or a size cap and answered with a clear OpenAI-shaped error, and the upstream connection is
closed."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.hardening.upstreams import HostileUpstream, TrickleAfter
from tests.support.fake_openai import Hang, HugeFrame, Raw, Trickle
from tests.support.gateway import MASTER_KEY, openai_config, running_gateway
from tests.support.openai_schema import assert_error
from tests.support.servers import UvicornThread
from tests.support.sse import check_stream, parse_sse_text

pytestmark = pytest.mark.slow

REQUEST_TIMEOUT = 3.0
READ_TIMEOUT = 1.0


@pytest.fixture(scope="module")
def hostile() -> Iterator[HostileUpstream]:
    server = HostileUpstream().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def gateway(hostile: HostileUpstream) -> Iterator[UvicornThread]:
    config = openai_config(hostile.v1)
    config["server"] = {
        "request_timeout": REQUEST_TIMEOUT,
        "read_timeout": READ_TIMEOUT,
        "max_upstream_response_bytes": 1024 * 1024,
        "stream_heartbeat_seconds": 0.5,
    }
    with running_gateway(config) as server:
        yield server


def _post(gateway: UvicornThread, stream: bool) -> httpx.Response:
    """A trickling or hanging upstream never ends by itself, so an answer from the gateway at all (before
    this client gives up, at a minute) shows that the gateway's own bounds ended the call."""
    body: dict[str, Any] = {"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}], "stream": stream}
    with httpx.Client(base_url=gateway.base_url, timeout=60) as client:
        return client.post("/v1/chat/completions", json=body, headers={"authorization": f"Bearer {MASTER_KEY}"})


def _wait_closed(hostile: HostileUpstream) -> None:
    deadline = time.monotonic() + 30
    while hostile.chat_requests()[-1].client_gone_at is None and hostile.chat_requests()[-1].outcome == "pending":
        assert time.monotonic() < deadline, "the gateway kept the upstream connection open"
        time.sleep(0.02)


CASES = [
    # each case: the behaviour, stream or not, the status and the code the client gets
    (Trickle(interval=0.2), True, 504, "upstream_timeout"),  # ended by the request's deadline
    (Trickle(interval=0.2), False, 504, "upstream_timeout"),
    (Hang(), True, 504, "upstream_timeout"),  # ended by the read timeout
    (Hang(), False, 504, "upstream_timeout"),
    (HugeFrame(size=4 * 1024 * 1024), True, 502, "upstream_response_too_large"),
    (HugeFrame(size=4 * 1024 * 1024), False, 502, "upstream_response_too_large"),
    (Raw(b"<html>502 Bad Gateway</html>", content_type="text/html"), False, 502, "upstream_bad_response"),
    (Raw(b"not json at all"), True, 502, "upstream_bad_response"),
    (Raw(b'{"error": {"message": "the model is overloaded"}}'), False, 502, "upstream_error"),
    (Raw(b'{"error": {"message": "the model is overloaded"}}'), True, 502, "upstream_error"),
    (Raw(b'{"error": "bad thing", "key": "sk-upstream-secret-key-abcdef"}'), True, 502, "upstream_error"),
]


@pytest.mark.parametrize(
    ("behaviour", "stream", "status", "code"),
    CASES,
    ids=[f"{type(c[0]).__name__}-{'stream' if c[1] else 'json'}-{i}" for i, c in enumerate(CASES)],
)
def test_hostile_upstream_is_bounded(
    hostile: HostileUpstream,
    gateway: UvicornThread,
    behaviour: Any,
    stream: bool,
    status: int,
    code: str,
) -> None:
    hostile.reset()
    hostile.plan(behaviour)
    response = _post(gateway, stream)
    assert response.status_code == status, response.text
    error = assert_error(response.json())["error"]
    assert error["code"] == code
    assert "sk-upstream" not in response.text
    if "overloaded" in str(getattr(behaviour, "body", b"")):
        assert "overloaded" in error["message"]
    _wait_closed(hostile)


def test_trickle_after_the_first_chunk_ends_in_an_error_frame(hostile: HostileUpstream, gateway: UvicornThread) -> None:
    hostile.reset()
    hostile.plan(TrickleAfter(chunks=2))
    response = _post(gateway, True)
    assert response.status_code == 200
    chunks, error = check_stream(parse_sse_text(response.text))
    assert chunks
    assert error is not None and error["error"]["code"] == "upstream_timeout"
    _wait_closed(hostile)
