"""Idempotency-Key: replay, in-flight conflict, body mismatch, caller scope, expiry; memory and DynamoDB."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from llm_gateway.core.context import Principal
from llm_gateway.errors import AuthenticationError
from tests.support.fake_openai import CutStream, FakeOpenAI, Reply, Status
from tests.support.gateway import MASTER_KEY, openai_config, running_gateway
from tests.support.openai_schema import assert_completion, assert_error
from tests.support.routing import CountingDynamo, FakeTime
from tests.support.sse import assemble, check_stream, parse_sse_text

pytestmark = pytest.mark.slow

BODY = {"model": "gpt-test", "messages": [{"role": "user", "content": "charge my card once"}]}


class TwoCallers:
    async def authenticate(self, token: str | None) -> Principal:
        if token in ("key-alice", "key-bob"):
            return Principal(key_id=token.removeprefix("key-"))
        raise AuthenticationError("Incorrect API key provided.")


def post(base_url: str, body: dict[str, Any], key: str | None, caller: str = "key-alice") -> httpx.Response:
    headers = {"authorization": f"Bearer {caller}"}
    if key is not None:
        headers["idempotency-key"] = key
    return httpx.post(f"{base_url}/v1/chat/completions", json=body, headers=headers, timeout=30)


@pytest.fixture(params=["memory", "dynamodb"])
def gateway(request: pytest.FixtureRequest, fake_openai: FakeOpenAI) -> Iterator[tuple[Any, FakeTime]]:
    clock = FakeTime()
    options: dict[str, Any] = {"authenticator": TwoCallers(), **clock.options()}
    if request.param == "dynamodb":
        tables = request.getfixturevalue("dynamodb_tables")
        dynamo = CountingDynamo(request.getfixturevalue("moto_endpoint"))
        options.update(env=tables, aws_clients=dynamo.aws_clients())
    with running_gateway(openai_config(fake_openai.v1), **options) as gw:
        yield gw, clock


def test_a_repeated_request_gets_the_first_answer_without_a_second_upstream_call(
    fake_openai: FakeOpenAI, gateway: tuple[Any, FakeTime]
) -> None:
    gw, _ = gateway
    fake_openai.plan(Reply(text="first and only answer"), Reply(text="a second answer"))
    first = post(gw.base_url, BODY, "order-42")
    again = post(gw.base_url, BODY, "order-42")
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert_completion(again.json())
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert again.headers["x-llm-gateway-attempts"] == "0"
    assert len(fake_openai.chat_requests()) == 1


def test_a_repeated_stream_is_replayed(fake_openai: FakeOpenAI, gateway: tuple[Any, FakeTime]) -> None:
    gw, _ = gateway
    fake_openai.plan(Reply(text="streamed once"), Reply(text="streamed twice"))
    client = openai.OpenAI(
        base_url=gw.base_url + "/v1", api_key="key-alice", max_retries=0, default_headers={"idempotency-key": "s-1"}
    )
    texts = []
    for _ in range(2):
        stream = client.chat.completions.create(**BODY, stream=True)
        texts.append("".join(c.choices[0].delta.content or "" for c in stream if c.choices))
    assert texts == ["streamed once", "streamed once"]
    assert len(fake_openai.chat_requests()) == 1
    with httpx.stream(
        "POST",
        f"{gw.base_url}/v1/chat/completions",
        json={**BODY, "stream": True},
        headers={"authorization": "Bearer key-alice", "idempotency-key": "s-1"},
    ) as raw:
        chunks, error = check_stream(parse_sse_text(raw.read().decode()))
    assert error is None
    assert assemble(chunks)[0]["content"] == "streamed once"
    assert raw.headers["idempotent-replayed"] == "true"


def test_a_duplicate_while_the_first_is_running_gets_409_with_retry_after(
    fake_openai: FakeOpenAI, gateway: tuple[Any, FakeTime]
) -> None:
    gw, _ = gateway
    fake_openai.plan(Reply(text="slow", delay=1.0))
    results: list[httpx.Response] = []
    first = threading.Thread(target=lambda: results.append(post(gw.base_url, BODY, "slow-1")))
    first.start()
    deadline = time.monotonic() + 5
    while not fake_openai.chat_requests() and time.monotonic() < deadline:
        time.sleep(0.01)
    duplicate = post(gw.base_url, BODY, "slow-1")
    first.join()
    assert duplicate.status_code == 409
    assert_error(duplicate.json())
    assert duplicate.json()["error"]["code"] == "idempotency_key_in_use"
    assert duplicate.headers["retry-after"] == "2"
    assert results[0].status_code == 200
    assert len(fake_openai.chat_requests()) == 1


def test_the_same_key_with_a_different_body_gets_422(fake_openai: FakeOpenAI, gateway: tuple[Any, FakeTime]) -> None:
    gw, _ = gateway
    assert post(gw.base_url, BODY, "k-1").status_code == 200
    other = post(gw.base_url, {**BODY, "temperature": 0.2}, "k-1")
    assert other.status_code == 422
    assert_error(other.json())
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    assert len(fake_openai.chat_requests()) == 1


def test_keys_are_scoped_to_the_caller(fake_openai: FakeOpenAI, gateway: tuple[Any, FakeTime]) -> None:
    gw, _ = gateway
    assert post(gw.base_url, BODY, "shared", caller="key-alice").status_code == 200
    bob = post(gw.base_url, BODY, "shared", caller="key-bob")
    assert bob.status_code == 200
    assert "idempotent-replayed" not in bob.headers
    assert len(fake_openai.chat_requests()) == 2


def test_keys_expire(fake_openai: FakeOpenAI, gateway: tuple[Any, FakeTime]) -> None:
    gw, clock = gateway
    assert post(gw.base_url, BODY, "day-old").status_code == 200
    clock.advance(24 * 3600 + 1)
    again = post(gw.base_url, BODY, "day-old")
    assert "idempotent-replayed" not in again.headers
    assert len(fake_openai.chat_requests()) == 2


def test_a_failed_first_request_frees_the_key(fake_openai: FakeOpenAI, gateway: tuple[Any, FakeTime]) -> None:
    gw, _ = gateway
    fake_openai.plan(Status(400, message="nope"), Reply(text="fixed"))
    assert post(gw.base_url, BODY, "retry-me").status_code == 400
    second = post(gw.base_url, BODY, "retry-me")
    assert second.status_code == 200
    assert second.json()["choices"][0]["message"]["content"] == "fixed"


def test_a_stream_cut_midway_is_not_stored(fake_openai: FakeOpenAI, gateway: tuple[Any, FakeTime]) -> None:
    gw, _ = gateway
    fake_openai.plan(CutStream(after=1), Reply(text="whole"))
    headers = {"authorization": "Bearer key-alice", "idempotency-key": "cut-1"}
    for expected_error in (True, False):
        with httpx.stream(
            "POST", f"{gw.base_url}/v1/chat/completions", json={**BODY, "stream": True}, headers=headers
        ) as raw:
            _, error = check_stream(parse_sse_text(raw.read().decode()))
        assert (error is not None) is expected_error
    assert len(fake_openai.chat_requests()) == 2


def test_an_invalid_key_is_a_400(fake_openai: FakeOpenAI, gateway: tuple[Any, FakeTime]) -> None:
    gw, _ = gateway
    response = post(gw.base_url, BODY, "x" * 300)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_idempotency_key"


def test_without_a_key_nothing_is_stored(fake_openai: FakeOpenAI, gateway: tuple[Any, FakeTime]) -> None:
    gw, _ = gateway
    post(gw.base_url, BODY, None)
    post(gw.base_url, BODY, None)
    assert len(fake_openai.chat_requests()) == 2


def test_dynamodb_calls_of_an_idempotent_request(
    fake_openai: FakeOpenAI, dynamodb_tables: dict[str, str], moto_endpoint: str
) -> None:
    dynamo = CountingDynamo(moto_endpoint)
    # without the usage table, usage records stay in memory: this test counts the idempotency records' calls
    env = {k: v for k, v in dynamodb_tables.items() if k != "LLM_GATEWAY_USAGE_TABLE"}
    with running_gateway(
        openai_config(fake_openai.v1), env=env, aws_clients=dynamo.aws_clients(), **FakeTime().options()
    ) as gw:
        headers = {"authorization": f"Bearer {MASTER_KEY}", "idempotency-key": "count-me"}
        url = f"{gw.base_url}/v1/chat/completions"
        httpx.post(url, json=BODY, headers=headers)
        dynamo.reset()
        httpx.post(url, json={**BODY, "temperature": 1}, headers={**headers, "idempotency-key": "count-2"})
        assert dynamo.calls == {"PutItem": 2}  # claim + store; the routing state was cached
        dynamo.reset()
        assert httpx.post(url, json=BODY, headers=headers).headers["idempotent-replayed"] == "true"
        assert dynamo.calls == {"PutItem": 1}  # the failed conditional claim returns the record
