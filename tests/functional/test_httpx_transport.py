"""The library's path for upstream calls (``server.upstream_http: httpx``) answers clients exactly as the pool
does: the same completions and streams, and the same OpenAI errors for every way an upstream fails (the
name of the transport's own exception in a message aside)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from llm_gateway.transport.http import HttpxTransport
from llm_gateway.transport.pool import UpstreamPool
from tests.support.fake_openai import Behaviour, CutStream, Drop, FakeOpenAI, Hang, MalformedFrame, Raw, Reply, Status
from tests.support.gateway import MASTER_KEY, openai_config, running_gateway
from tests.support.openai_schema import assert_completion, assert_error
from tests.support.servers import UvicornThread
from tests.support.sse import check_stream, parse_sse_text

pytestmark = pytest.mark.slow

AUTH = {"authorization": f"Bearer {MASTER_KEY}"}
HELLO = [{"role": "user", "content": "hello"}]
UNSTABLE = {"id", "created", "system_fingerprint"}


@pytest.fixture(params=["pool", "httpx"])
def gateway(request: pytest.FixtureRequest, fake_openai: FakeOpenAI) -> Iterator[UvicornThread]:
    config = {**openai_config(fake_openai.v1, timeout=1), "server": {"upstream_http": request.param}}
    with running_gateway(config) as server:
        transport = server.gateway.transport  # type: ignore[attr-defined]
        assert isinstance(transport, UpstreamPool if request.param == "pool" else HttpxTransport)
        yield server


def _post(gateway: UvicornThread, stream: bool = False) -> httpx.Response:
    body = {"model": "gpt-test", "messages": HELLO, "stream": stream}
    return httpx.post(f"{gateway.base_url}/v1/chat/completions", json=body, headers=AUTH, timeout=30)


def _stable(value: Any) -> Any:
    """Ids and timestamps aside, and the name of the transport's exception in a message ("cut off
    (ReadError)" on one path is "cut off (RemoteProtocolError)" on the other)."""
    if isinstance(value, str):
        return re.sub(r"\(\w+Error\)", "(...)", value)
    if isinstance(value, dict):
        return {k: _stable(v) for k, v in value.items() if k not in UNSTABLE}
    if isinstance(value, list):
        return [_stable(v) for v in value]
    return value


def test_a_completion_and_a_stream(gateway: UvicornThread, fake_openai: FakeOpenAI) -> None:
    fake_openai.plan(Reply(text="one two three"), Reply(text="one two three"))
    answer = _post(gateway)
    assert answer.status_code == 200
    assert_completion(answer.json())
    assert answer.json()["choices"][0]["message"]["content"] == "one two three"
    streamed = _post(gateway, stream=True)
    assert streamed.status_code == 200
    chunks, error = check_stream(parse_sse_text(streamed.text))
    assert error is None
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"]) == "one two three"
    upstream = fake_openai.chat_requests()
    assert [r.headers["authorization"] for r in upstream] == ["Bearer sk-upstream-secret-key-abcdef"] * 2
    assert json.loads(upstream[0].body)["model"] == "fake-model"


@pytest.mark.parametrize(
    "behaviour",
    [
        Status(429, message="slow down", headers={"retry-after": "7"}),
        Status(500, message="upstream broke"),
        Status(401, message="bad key"),
        Drop(),
        Hang(),
        Raw(b"<html>not json</html>", content_type="text/html"),
    ],
    ids=["429", "500", "401", "dropped", "silent", "not-json"],
)
def test_upstream_failures_are_the_same_errors_on_both_paths(behaviour: Behaviour, fake_openai: FakeOpenAI) -> None:
    answers = {}
    for setting in ("pool", "httpx"):
        fake_openai.plan(behaviour)
        config = {**openai_config(fake_openai.v1, timeout=1), "server": {"upstream_http": setting}}
        with running_gateway(config) as server:
            answer = _post(server)
        assert_error(answer.json())
        answers[setting] = (answer.status_code, answer.headers.get("retry-after"), _stable(answer.json()))
    assert answers["pool"] == answers["httpx"]
    assert answers["pool"][0] >= 400


@pytest.mark.parametrize("behaviour", [CutStream(after=2), MalformedFrame(after=1)], ids=["cut", "malformed"])
def test_a_broken_stream_ends_the_same_way_on_both_paths(behaviour: Behaviour, fake_openai: FakeOpenAI) -> None:
    endings = {}
    for setting in ("pool", "httpx"):
        fake_openai.plan(behaviour)
        config = {**openai_config(fake_openai.v1), "server": {"upstream_http": setting}}
        with running_gateway(config) as server:
            streamed = _post(server, stream=True)
        assert streamed.status_code == 200
        _, error = check_stream(parse_sse_text(streamed.text))
        assert error is not None, "the stream ends with an OpenAI error event"
        endings[setting] = _stable(error)
    assert endings["pool"] == endings["httpx"]
