"""The official ``anthropic`` SDK against ``/v1/messages`` over a real socket, on every kind of deployment:
mock, Anthropic, Claude on Bedrock, Gemini and an OpenAI-compatible server (the model-like fakes of
tests/support/model_fakes.py). Every object and stream event is checked against Anthropic's shapes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anthropic
import httpx
import pytest

from tests.support.anthropic_schema import assert_error, assert_event, assert_message, check
from tests.support.gateway import MASTER_KEY
from tests.support.model_fakes import FINAL_TEXT
from tests.support.servers import UvicornThread

pytestmark = pytest.mark.slow

MODELS = ("mock", "claude", "claude-bedrock", "gemini", "gpt")
WEATHER = {
    "name": "get_weather",
    "description": "The weather in a city.",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


@pytest.fixture(scope="module")
def messages_gateway(gateway: UvicornThread) -> UvicornThread:
    return gateway  # the client suite's gateway (tests/clients/conftest.py): every provider, and the mock


@pytest.fixture(scope="module")
def client(messages_gateway: UvicornThread) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=messages_gateway.base_url, api_key=MASTER_KEY, max_retries=0)


def raw_events(
    base_url: str, body: dict[str, Any], headers: dict[str, str] | None = None, *, full_url: bool = False
) -> list[dict[str, Any]]:
    """The stream's events as sent, each checked against its schema (``event:`` name = ``type``)."""
    events: list[dict[str, Any]] = []
    sent = {"x-api-key": MASTER_KEY, "anthropic-version": "2023-06-01", **(headers or {})}
    url = base_url if full_url else f"{base_url}/v1/messages"
    with httpx.stream("POST", url, json={**body, "stream": True}, headers=sent, timeout=30) as r:
        assert r.status_code == 200, r.read()
        assert r.headers["content-type"].startswith("text/event-stream")
        name = None
        for line in r.iter_lines():
            if line.startswith("event: "):
                name = line.removeprefix("event: ")
            elif line.startswith("data: "):
                payload = json.loads(line.removeprefix("data: "))
                assert name is not None
                events.append(assert_event(name, payload))
                name = None
    return events


@pytest.mark.parametrize("model", MODELS)
def test_messages_create_answers_a_valid_message(client: anthropic.Anthropic, model: str) -> None:
    raw = client.messages.with_raw_response.create(
        model=model, max_tokens=200, messages=[{"role": "user", "content": "What is the weather in Paris?"}]
    )
    message = assert_message(raw.http_response.json())
    assert raw.headers["request-id"] == raw.headers["x-request-id"]
    assert message["role"] == "assistant" and message["stop_reason"] == "end_turn"
    text = "".join(block["text"] for block in message["content"] if block["type"] == "text")
    assert text if model == "mock" else text == FINAL_TEXT
    assert message["usage"]["output_tokens"] > 0


@pytest.mark.parametrize("model", MODELS)
def test_messages_stream_sends_anthropic_events(
    client: anthropic.Anthropic, messages_gateway: UvicornThread, model: str
) -> None:
    body = {"model": model, "max_tokens": 200, "messages": [{"role": "user", "content": "Weather in Paris?"}]}
    events = raw_events(messages_gateway.base_url, body)
    kinds = [event["type"] for event in events]
    assert kinds[0] == "message_start" and kinds[-2:] == ["message_delta", "message_stop"]
    assert "content_block_start" in kinds and "content_block_stop" in kinds
    assert events[-2]["delta"]["stop_reason"] == "end_turn" and events[-2]["usage"]["output_tokens"] > 0
    with client.messages.stream(**body) as stream:  # type: ignore[arg-type]
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text if model == "mock" else text == FINAL_TEXT
    assert final.stop_reason == "end_turn"


@pytest.mark.parametrize("model", ("claude", "claude-bedrock", "gemini", "gpt"))
@pytest.mark.parametrize("streamed", (False, True), ids=("create", "stream"))
def test_a_tool_use_tool_result_round_trip(client: anthropic.Anthropic, model: str, streamed: bool) -> None:
    messages: list[Any] = [{"role": "user", "content": "What is the weather in Paris?"}]
    kwargs: dict[str, Any] = {"model": model, "max_tokens": 300, "tools": [WEATHER]}
    if streamed:
        with client.messages.stream(messages=messages, **kwargs) as stream:
            first = stream.get_final_message()
    else:
        first = client.messages.create(messages=messages, **kwargs)
    assert_message(first.model_dump(mode="json"))
    assert first.stop_reason == "tool_use"
    calls = [block for block in first.content if block.type == "tool_use"]
    assert [call.name for call in calls] == ["get_weather"] and isinstance(calls[0].input, dict)
    messages += [
        {"role": "assistant", "content": [block.model_dump(exclude_none=True) for block in first.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": calls[0].id, "content": "sunny, 24C"}]},
    ]
    second = client.messages.create(messages=messages, **kwargs)
    assert second.stop_reason == "end_turn"
    assert "".join(b.text for b in second.content if b.type == "text") == FINAL_TEXT


def test_bearer_and_x_api_key_both_authenticate(messages_gateway: UvicornThread) -> None:
    bearer = anthropic.Anthropic(base_url=messages_gateway.base_url, auth_token=MASTER_KEY, max_retries=0)
    body = {"model": "mock", "max_tokens": 20, "messages": [{"role": "user", "content": "hi"}]}
    assert bearer.messages.create(**body).type == "message"  # type: ignore[arg-type]
    wrong = anthropic.Anthropic(base_url=messages_gateway.base_url, api_key="sk-wrong", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError) as raised:
        wrong.messages.create(**body)  # type: ignore[arg-type]
    assert raised.value.status_code == 401
    assert assert_error(raised.value.body)["error"]["type"] == "authentication_error"


def test_errors_come_in_anthropic_shape_with_their_status(
    client: anthropic.Anthropic, messages_gateway: UvicornThread
) -> None:
    with pytest.raises(anthropic.NotFoundError) as unknown:
        client.messages.create(model="nope", max_tokens=20, messages=[{"role": "user", "content": "hi"}])
    assert assert_error(unknown.value.body)["error"]["type"] == "not_found_error"
    with pytest.raises(anthropic.BadRequestError) as bad:
        client.messages.create(model="mock", max_tokens=5, messages=[{"role": "tool", "content": "hi"}])  # type: ignore[list-item]
    assert "role" in assert_error(bad.value.body)["error"]["message"]
    url, key = f"{messages_gateway.base_url}/v1/messages", {"x-api-key": MASTER_KEY}
    missing = httpx.post(url, json={"model": "mock", "messages": [{"role": "user", "content": "hi"}]}, headers=key)
    assert missing.status_code == 400 and "max_tokens" in assert_error(missing.json())["error"]["message"]
    not_json = httpx.post(url, content=b"{", headers=key)
    assert not_json.status_code == 400 and assert_error(not_json.json())["error"]["type"] == "invalid_request_error"
    anonymous = httpx.post(url, json={"model": "mock"})
    assert anonymous.status_code == 401 and assert_error(anonymous.json())["error"]["type"] == "authentication_error"


@pytest.mark.parametrize("streamed", (False, True), ids=("invoke", "invoke-with-response-stream"))
def test_claude_on_bedrock_gets_anthropics_own_body(
    client: anthropic.Anthropic, upstreams: dict[str, Any], streamed: bool
) -> None:
    kwargs: dict[str, Any] = {
        "model": "claude-bedrock",
        "max_tokens": 2000,
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}}]}
        ],
        "extra_headers": {"anthropic-beta": "interleaved-thinking-2025-05-14"},
    }
    if streamed:
        with client.messages.stream(**kwargs) as stream:
            message = stream.get_final_message()
    else:
        message = client.messages.create(**kwargs)
    assert [block.type for block in message.content] == ["thinking", "text"]
    sent = upstreams["bedrock"].requests[-1]
    assert sent.path.endswith("/invoke-with-response-stream" if streamed else "/invoke")
    body = json.loads(sent.body)
    assert body["anthropic_version"] == "bedrock-2023-05-31" and body["anthropic_beta"] == [
        "interleaved-thinking-2025-05-14"
    ]
    assert body["messages"] == kwargs["messages"] and body["thinking"] == kwargs["thinking"] and "model" not in body


@pytest.mark.parametrize("model", MODELS)
def test_count_tokens_from_the_upstream_where_it_counts_else_an_estimate_that_says_so(
    client: anthropic.Anthropic, upstreams: dict[str, Any], model: str
) -> None:
    messages: Any = [{"role": "user", "content": "What is the weather in Paris? " * 20}]
    raw = client.messages.with_raw_response.count_tokens(model=model, messages=messages, tools=[WEATHER])
    counted = check("MessageTokensCount", raw.http_response.json())
    native = model in ("claude", "claude-bedrock")
    assert raw.headers["x-llm-gateway-token-count"] == ("upstream" if native else "estimate")
    assert counted["input_tokens"] > 100
    if native:  # the fakes count 7 (Anthropic) or 11 (Bedrock) plus a quarter of the messages' JSON
        assert counted["input_tokens"] == (7 if model == "claude" else 11) + len(json.dumps(messages)) // 4
    if model == "claude":
        assert "max_tokens" not in upstreams["anthropic"].requests[-1].json()


def test_models_in_anthropics_shape_when_the_request_carries_anthropic_version(
    client: anthropic.Anthropic, messages_gateway: UvicornThread
) -> None:
    every = [m["id"] for m in check("ModelsList", client.models.with_raw_response.list().http_response.json())["data"]]
    assert sorted(every) == sorted(MODELS)
    page = check("ModelsList", client.models.with_raw_response.list(limit=3).http_response.json())
    assert [m["id"] for m in page["data"]] == every[:3] and page["has_more"]
    assert page["first_id"] == every[0] and page["last_id"] == every[2]
    rest = check("ModelsList", client.models.with_raw_response.list(after_id=every[2]).http_response.json())
    assert [m["id"] for m in rest["data"]] == every[3:] and not rest["has_more"]
    one = check("ModelInfo", client.models.with_raw_response.retrieve("gpt").http_response.json())
    assert one["type"] == "model" and one["display_name"] == "gpt"
    assert {m.id for m in client.models.list()} == set(MODELS)
    openai_shape = httpx.get(
        f"{messages_gateway.base_url}/v1/models", headers={"authorization": f"Bearer {MASTER_KEY}"}
    )
    assert openai_shape.json()["object"] == "list"
    assert all("messages" in model["endpoints"] for model in openai_shape.json()["data"])


CLAUDE_CODE = json.loads(
    (Path(__file__).parents[1] / "fixtures" / "anthropic" / "claude-code-request.json").read_text()
)


@pytest.mark.parametrize("model", MODELS)
def test_claude_codes_own_request_is_served_on_every_provider(
    messages_gateway: UvicornThread, upstreams: dict[str, Any], model: str
) -> None:
    """What Claude Code sends (a mid-conversation system turn, adaptive thinking, output_config.effort,
    context_management, cache_control, ``?beta=true``, its betas) streams back as valid events."""
    body = {**CLAUDE_CODE["body"], "model": model}
    headers = {"x-api-key": MASTER_KEY, **CLAUDE_CODE["headers"]}
    events = raw_events(messages_gateway.base_url + "/v1/messages?beta=true", body, headers, full_url=True)
    assert events[-1]["type"] == "message_stop"
    assert events[-2]["delta"]["stop_reason"] in ("end_turn", "tool_use")
    if model == "claude":  # passed through: what only Claude reads arrives
        sent = upstreams["anthropic"].message_requests()[-1]
        assert sent.json()["context_management"] == body["context_management"]
        assert sent.json()["output_config"] == body["output_config"]
        assert sent.headers["anthropic-beta"].startswith("claude-code-20250219,")


def test_what_only_claude_serves_is_a_400_on_a_bridged_model_and_passes_through_to_claude(
    client: anthropic.Anthropic, upstreams: dict[str, Any]
) -> None:
    search = {"type": "web_search_20250305", "name": "web_search", "max_uses": 1}
    body: dict[str, Any] = {"max_tokens": 100, "messages": [{"role": "user", "content": "News?"}], "tools": [search]}
    with pytest.raises(anthropic.BadRequestError) as refused:
        client.messages.create(model="gemini", **body)
    message = assert_error(refused.value.body)["error"]["message"]
    assert "web_search_20250305" in message and "gemini" in message
    client.messages.create(model="claude", **body)
    assert upstreams["anthropic"].message_requests()[-1].json()["tools"] == [search]


def test_model_errors_for_an_anthropic_client_come_in_its_shape(messages_gateway: UvicornThread) -> None:
    wrong = anthropic.Anthropic(base_url=messages_gateway.base_url, api_key="sk-wrong", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError) as refused:
        wrong.models.list()
    assert assert_error(refused.value.body)["error"]["type"] == "authentication_error"
    client = anthropic.Anthropic(base_url=messages_gateway.base_url, api_key=MASTER_KEY, max_retries=0)
    with pytest.raises(anthropic.NotFoundError) as missing:
        client.models.retrieve("nope")
    assert assert_error(missing.value.body)["error"]["type"] == "not_found_error"
