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


def _post(gateway: UvicornThread, stream: bool) -> tuple[httpx.Response, float]:
    body: dict[str, Any] = {"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}], "stream": stream}
    started = time.monotonic()
    with httpx.Client(base_url=gateway.base_url, timeout=REQUEST_TIMEOUT * 4) as client:
        response = client.post("/v1/chat/completions", json=body, headers={"authorization": f"Bearer {MASTER_KEY}"})
    return response, time.monotonic() - started


def _wait_closed(hostile: HostileUpstream) -> None:
    deadline = time.monotonic() + 5
    while hostile.chat_requests()[-1].client_gone_at is None and hostile.chat_requests()[-1].outcome == "pending":
        assert time.monotonic() < deadline, "the gateway kept the upstream connection open"
        time.sleep(0.02)


CASES = [
    # (behaviour, stream, status, code, most seconds)
    (Trickle(interval=0.2), True, 504, "upstream_timeout", REQUEST_TIMEOUT),
    (Trickle(interval=0.2), False, 504, "upstream_timeout", REQUEST_TIMEOUT),
    (Hang(), True, 504, "upstream_timeout", READ_TIMEOUT),
    (Hang(), False, 504, "upstream_timeout", READ_TIMEOUT),
    (HugeFrame(size=4 * 1024 * 1024), True, 502, "upstream_response_too_large", REQUEST_TIMEOUT),
    (HugeFrame(size=4 * 1024 * 1024), False, 502, "upstream_response_too_large", REQUEST_TIMEOUT),
    (Raw(b"<html>502 Bad Gateway</html>", content_type="text/html"), False, 502, "upstream_bad_response", 1),
    (Raw(b"not json at all"), True, 502, "upstream_bad_response", 1),
    (Raw(b'{"error": {"message": "the model is overloaded"}}'), False, 502, "upstream_error", 1),
    (Raw(b'{"error": {"message": "the model is overloaded"}}'), True, 502, "upstream_error", 1),
    (Raw(b'{"error": "bad thing", "key": "sk-upstream-secret-key-abcdef"}'), True, 502, "upstream_error", 1),
]


@pytest.mark.parametrize(
    ("behaviour", "stream", "status", "code", "bound"),
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
    bound: float,
) -> None:
    hostile.reset()
    hostile.plan(behaviour)
    response, elapsed = _post(gateway, stream)
    assert response.status_code == status, response.text
    error = assert_error(response.json())["error"]
    assert error["code"] == code
    assert "sk-upstream" not in response.text
    if "overloaded" in str(getattr(behaviour, "body", b"")):
        assert "overloaded" in error["message"]
    assert elapsed < bound + 1.5, f"took {elapsed:.1f}s"
    _wait_closed(hostile)


def test_trickle_after_the_first_chunk_ends_in_an_error_frame(hostile: HostileUpstream, gateway: UvicornThread) -> None:
    hostile.reset()
    hostile.plan(TrickleAfter(chunks=2))
    response, elapsed = _post(gateway, True)
    assert response.status_code == 200
    chunks, error = check_stream(parse_sse_text(response.text))
    assert chunks
    assert error is not None and error["error"]["code"] == "upstream_timeout"
    assert elapsed < REQUEST_TIMEOUT + 1.5
    _wait_closed(hostile)
