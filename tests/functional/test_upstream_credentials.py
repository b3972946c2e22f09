"""No upstream credential leaves the gateway through an error (issue 17, item 1).

Every fake upstream runs in its echo mode (:mod:`tests.support.echo`): each error it sends quotes the
credential it received in every field (``message``, ``code``, ``param``, ``type``, nested details), whole,
masked (``sk-abc...wxyz``), as the ``Bearer`` header, as a ``key=`` query string and, for Bedrock, as the
signature's AWS access key id. Over a real socket, for every provider and for embeddings, as a 4xx, a 5xx,
a 200 carrying an error body and an error inside a stream: the client's body and headers, every log line
(the access line's ``route`` and ``error_code`` included) and every state-table item (``cooldown_reason``)
hold none of it, and a code the gateway does not know arrives as a generic one. (The session-wide scans of
:mod:`tests.support.log_scan` check the same for the whole run.)
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.echo import masked
from tests.support.fake_anthropic import API_KEY as ANTHROPIC_KEY
from tests.support.fake_anthropic import ErrorEvent, FakeAnthropic
from tests.support.fake_anthropic import Status as AStatus
from tests.support.fake_bedrock import CLAUDE, Error, FakeBedrockHTTP, Stream, load_fixture
from tests.support.fake_embeddings import (
    GEMINI_KEY,
    OPENAI_KEY,
    FakeBedrockEmbeddings,
    FakeGeminiEmbeddings,
    FakeOpenAIEmbeddings,
)
from tests.support.fake_gemini import API_KEY as GEMINI_CHAT_KEY
from tests.support.fake_gemini import FakeGemini, GStatus, GStreamError
from tests.support.fake_openai import ErrorBody, ErrorFrame, FakeOpenAI, Status
from tests.support.gateway import MASTER_KEY, running_gateway
from tests.support.log_scan import Capture, captured_logs, remember_secret
from tests.support.openai_schema import assert_error
from tests.support.sse import parse_sse_lines
from tests.support.tenants import aws_clients, dynamodb_client

pytestmark = pytest.mark.slow

OPENAI_UPSTREAM_KEY = "sk-proj-Q9x2Lm7TzR4vK8pW1nB6cJ3hY5dF0aGeXw"
AWS_KEY_ID = "AKIAQ7ECHOTESTKEY042"
remember_secret(OPENAI_UPSTREAM_KEY)
remember_secret(AWS_KEY_ID)
HI = [{"role": "user", "content": "hi"}]
KNOWN_CODES = {"upstream_error", "upstream_invalid_request", "invalid_request", "upstream_stream_cut"}
"""What these errors may arrive as (an Anthropic 400 has no code at all)."""
ERROR_TYPES = {"invalid_request_error", "upstream_error", "server_error"}


def forms(key: str) -> list[str]:
    """What must never come out: the key, its masked form, and long pieces of it."""
    return [key, masked(key), key[:12], key[-12:], key[4:-4]]


def assert_clean(text: str, key: str) -> None:
    for form in forms(key):
        assert form not in text, f"{form!r} leaked in {text[:400]!r}"


def post(gw: Any, path: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(gw.base_url + path, json=body, headers={"authorization": f"Bearer {MASTER_KEY}"}, timeout=30)


def checked_error(response: httpx.Response, key: str, status: int) -> dict[str, Any]:
    """The error of a refused non-stream request: the right status, clean, generic where it must be."""
    assert response.status_code == status, response.text
    assert_clean(response.text + json.dumps(dict(response.headers)), key)
    error = assert_error(response.json())["error"]
    assert error["code"] in KNOWN_CODES | {None} and error["type"] in ERROR_TYPES and error["param"] is None
    return dict(error)


def stream_error(gw: Any, body: dict[str, Any], key: str) -> dict[str, Any]:
    """The error of a stream: its frames clean, the last one an OpenAI error (or the refusal's body)."""
    headers = {"authorization": f"Bearer {MASTER_KEY}"}
    with httpx.stream("POST", gw.base_url + "/v1/chat/completions", json=body, headers=headers, timeout=30) as answer:
        lines = list(answer.iter_lines())
    text = "\n".join(lines)
    assert_clean(text + json.dumps(dict(answer.headers)), key)
    if answer.status_code != 200:
        return dict(assert_error(json.loads(text))["error"])
    frames = [frame.json() for frame in parse_sse_lines(lines) if frame.data != "[DONE]"]
    error = assert_error(frames[-1])["error"]
    assert error["code"] in KNOWN_CODES | {None} and error["type"] in ERROR_TYPES and error["param"] is None
    return dict(error)


def assert_logs_clean(logs: Capture, key: str) -> None:
    assert_clean("\n".join(logs.lines), key)
    access = logs.access()
    assert access
    for line in access:
        assert line.get("error_code") in KNOWN_CODES | {None}
        for attempt in line.get("route") or []:
            assert attempt.rpartition("=")[2] in KNOWN_CODES | {"ok", "deadline"}, attempt


@pytest.fixture
def logs() -> Iterator[Capture]:
    with captured_logs(others=logging.INFO) as handler:  # as deployed: libraries' DEBUG dumps off
        yield handler


def test_openai_compatible_errors_in_every_form(
    fake_openai: FakeOpenAI, moto_endpoint: str, dynamodb_tables: dict[str, str], logs: Capture
) -> None:
    fake_openai.echo = True
    upstream = {"provider": "openai", "api_base": fake_openai.v1, "api_key": OPENAI_UPSTREAM_KEY}
    config = {
        "models": [{"name": "gpt-test", "model": "fake-model", **upstream}],
        "router": {"num_retries": 0, "allowed_fails": 1},
    }
    key = OPENAI_UPSTREAM_KEY
    with running_gateway(config, env=dynamodb_tables, aws_clients=aws_clients(moto_endpoint)) as gw:
        fake_openai.plan(Status(400))
        error = checked_error(post(gw, "/v1/chat/completions", {"model": "gpt-test", "messages": HI}), key, 400)
        assert error["code"] == "upstream_invalid_request" and error["type"] == "invalid_request_error"
        fake_openai.plan(ErrorBody())
        error = checked_error(post(gw, "/v1/chat/completions", {"model": "gpt-test", "messages": HI}), key, 502)
        assert error["code"] == "upstream_error"
        fake_openai.plan(ErrorFrame(after=2))
        error = stream_error(gw, {"model": "gpt-test", "messages": HI, "stream": True}, key)
        assert error["code"] == "upstream_error"
        fake_openai.plan(Status(400))
        error = stream_error(gw, {"model": "gpt-test", "messages": HI, "stream": True}, key)
        assert error["code"] == "upstream_invalid_request"
        fake_openai.plan(Status(500))  # cools the deployment down: its reason goes to the state table
        error = checked_error(post(gw, "/v1/chat/completions", {"model": "gpt-test", "messages": HI}), key, 502)
        assert error["code"] == "upstream_error"
    assert len(fake_openai.chat_requests()) == 5
    assert_logs_clean(logs, key)
    items = dynamodb_client(moto_endpoint).scan(TableName=dynamodb_tables["LLM_GATEWAY_STATE_TABLE"])["Items"]
    reasons = [item["cooldown_reason"]["S"] for item in items if "cooldown_reason" in item]
    assert reasons == ["upstream_error"]
    assert_clean(json.dumps(items), key)


STREAM = 200
"""In a case: the request is a stream, and the error arrives as its last frame."""


def run_cases(gw: Any, fake: Any, group: str, key: str, cases: list[tuple[Any, int, str | None]]) -> None:
    """Each ``(what the fake does next, status the client gets, code it gets or None for any)``."""
    for behaviour, status, code in cases:
        fake.plan(behaviour)
        body = {"model": group, "messages": HI}
        if status == STREAM:
            error = stream_error(gw, {**body, "stream": True}, key)
        else:
            error = checked_error(post(gw, "/v1/chat/completions", body), key, status)
        assert code is None or error["code"] == code, error


def native(provider: str) -> tuple[Any, dict[str, Any], str, list[tuple[Any, int, str | None]]]:
    """A native provider's fake, its ``models:`` entry, its key and the errors to try."""
    if provider == "anthropic":
        fake: Any = FakeAnthropic().start()
        entry = {"model": "claude-sonnet-4-5-20250929", "api_base": fake.base_url, "api_key": ANTHROPIC_KEY}
        cases = [(AStatus(400), 400, None), (AStatus(500, "api_error"), 502, "upstream_error")]
        return fake, entry, ANTHROPIC_KEY, [*cases, (ErrorEvent(after=1), STREAM, None)]
    fake = FakeGemini().start()
    entry = {"model": "gemini-2.5-flash", "api_base": fake.v1beta, "api_key": GEMINI_CHAT_KEY}
    cases = [
        (GStatus(400, "INVALID_ARGUMENT"), 400, "upstream_invalid_request"),
        (GStatus(500, "INTERNAL"), 502, "upstream_error"),
        (GStreamError(after=1), STREAM, None),
    ]
    return fake, entry, GEMINI_CHAT_KEY, cases


@pytest.mark.parametrize("provider", ["anthropic", "gemini"])
def test_native_providers_errors_and_stream_errors(provider: str, logs: Capture) -> None:
    fake, entry, key, cases = native(provider)
    fake.echo = True
    try:
        with running_gateway({"models": [{"name": "m", "provider": provider, **entry}]}) as gw:
            run_cases(gw, fake, "m", key, cases)
    finally:
        fake.stop()
    assert_logs_clean(logs, key)


def test_bedrock_errors_quoting_the_access_key_id(monkeypatch: pytest.MonkeyPatch, logs: Capture) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", AWS_KEY_ID)
    fake = FakeBedrockHTTP().start()
    fake.echo = True
    model = {"name": "claude", "provider": "bedrock", "model": CLAUDE, "region": "us-east-1"}
    config = {"models": [{**model, "endpoint_url": fake.base_url}]}
    events = [(k, p) for k, p in load_fixture("stream_parallel_tools.json")][:3]
    try:
        with running_gateway(config) as gw:
            cases = [
                (Error(400, "ValidationException"), 400, None),
                # a code the gateway does not know: in echo mode it is the access key id itself
                (Error(409, "ConflictException"), 409, "upstream_invalid_request"),
                (Error(500, "InternalServerException"), 502, None),
                (Stream(events, exception=("modelStreamErrorException", {"message": "x"})), STREAM, None),
            ]
            run_cases(gw, fake, "claude", AWS_KEY_ID, cases)
    finally:
        fake.stop()
    assert fake.requests and AWS_KEY_ID in fake.requests[0].headers["authorization"]  # what the fake echoed
    assert_logs_clean(logs, AWS_KEY_ID)


def test_embeddings_errors_on_every_provider(monkeypatch: pytest.MonkeyPatch, logs: Capture) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", AWS_KEY_ID)
    fakes = {
        "openai": FakeOpenAIEmbeddings().start(),
        "bedrock": FakeBedrockEmbeddings().start(),
        "gemini": FakeGeminiEmbeddings().start(),
    }
    embeddings = {"endpoints": ["embeddings"]}
    config = {
        "models": [
            {"name": "oa", "provider": "openai", "model": "text-embedding-3-small", "api_base": fakes["openai"].v1,
             "api_key": OPENAI_KEY, **embeddings},
            {"name": "titan", "provider": "bedrock", "model": "amazon.titan-embed-text-v2:0", "region": "us-east-1",
             "endpoint_url": fakes["bedrock"].base_url, **embeddings},
            {"name": "gm", "provider": "gemini", "model": "text-embedding-004", "api_base": fakes["gemini"].v1beta,
             "api_key": GEMINI_KEY, **embeddings},
        ]
    }  # fmt: skip
    try:
        for fake in fakes.values():
            fake.echo = True
        with running_gateway(config) as gw:
            for group, fake, key, failure in (
                ("oa", fakes["openai"], OPENAI_KEY, (400, {"error": {"message": "no"}})),
                ("titan", fakes["bedrock"], AWS_KEY_ID, (400, ("ValidationException", "no"))),
                ("gm", fakes["gemini"], GEMINI_KEY, (400, {"error": {"code": 400, "status": "INVALID_ARGUMENT"}})),
                ("oa", fakes["openai"], OPENAI_KEY, (500, {"error": {"message": "no"}})),
                ("gm", fakes["gemini"], GEMINI_KEY, (500, {"error": {"code": 500, "status": "INTERNAL"}})),
            ):
                fake.fail_next.append(failure)
                answer = post(gw, "/v1/embeddings", {"model": group, "input": "hello"})
                checked_error(answer, key, 400 if failure[0] == 400 else 502)
    finally:
        for fake in fakes.values():
            fake.stop()
    for key in (OPENAI_KEY, AWS_KEY_ID, GEMINI_KEY):
        assert_logs_clean(logs, key)


def test_the_session_scans_see_a_leak(moto_endpoint: str, dynamodb_tables: dict[str, str]) -> None:
    """The scans the whole run relies on find a key in a table item (compressed or not) and in a response."""
    import zlib

    from tests.support.log_scan import LEAKS, scan_items
    from tests.support.servers import serve_app

    client = dynamodb_client(moto_endpoint)
    table = dynamodb_tables["LLM_GATEWAY_STATE_TABLE"]
    item = {"pk": {"S": "probe"}, "sk": {"S": "probe"}, "payload": {"B": zlib.compress(OPENAI_UPSTREAM_KEY.encode())}}
    client.put_item(TableName=table, Item=item)

    async def leaky(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": OPENAI_UPSTREAM_KEY[:20].encode(), "more_body": True})
        await send({"type": "http.response.body", "body": OPENAI_UPSTREAM_KEY[20:].encode()})

    before = len(LEAKS)
    try:
        scan_items(client, [table])
        with serve_app(leaky, lifespan="off") as server:
            assert httpx.get(server.base_url + "/x").status_code == 200
        found = LEAKS[before:]
        assert any(f"table {table} item probe" in leak for leak in found), found
        assert any("response body of /x" in leak for leak in found), found
    finally:
        del LEAKS[before:]  # found on purpose: not the run's
        client.delete_item(TableName=table, Key={"pk": {"S": "probe"}, "sk": {"S": "probe"}})
