"""``/v1/responses`` over a real socket with the official ``openai`` SDK, on the mock provider and a fake
OpenAI-compatible upstream: the bridge onto chat, its stream events, stored responses in DynamoDB (moto,
tables from template.yaml) scoped to the key and expiring, and the chat pipeline's controls (keys, rate
limits, budgets, the cache, fallbacks) applied to it. Every Response and every event is validated
against OpenAI's published schemas."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.support.fake_openai import CutStream, FakeOpenAI, Reply, Status
from tests.support.gateway import MASTER_KEY, running_gateway
from tests.support.responses_schema import assert_error, assert_events, assert_response
from tests.support.tenants import ManualClock, aws_clients, key_store, make_key

pytestmark = pytest.mark.slow

MOCK = {"name": "mock", "provider": "mock", "model": "mock-1"}
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeOpenAI]:
    fake = FakeOpenAI().start()
    yield fake
    fake.stop()


@pytest.fixture(autouse=True)
def fresh(upstream: FakeOpenAI) -> None:
    upstream.reset()


def gpt(upstream: FakeOpenAI, name: str = "gpt", **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "provider": "openai",
        "model": "gpt-4.1",
        "api_base": upstream.v1,
        "api_key": "sk-upstream-secret-key-abcdef",
        **extra,
    }


def post(base_url: str, body: dict[str, Any], key: str = MASTER_KEY) -> httpx.Response:
    return httpx.post(f"{base_url}/v1/responses", json=body, headers={"authorization": f"Bearer {key}"}, timeout=30)


def events_of(response: httpx.Response) -> list[dict[str, Any]]:
    """Each SSE message's data; its ``event:`` name must be the event's ``type``."""
    events = []
    for block in response.text.replace("\r\n", "\n").split("\n\n"):
        lines = [line for line in block.split("\n") if line and not line.startswith(":")]
        if not lines:
            continue
        name = next(line[6:].strip() for line in lines if line.startswith("event:"))
        data = json.loads("".join(line[5:].strip() for line in lines if line.startswith("data:")))
        assert name == data["type"]
        events.append(data)
    return events


def client_for(base_url: str, key: str = MASTER_KEY) -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url + "/v1", api_key=key, max_retries=0)


# --- the bridge -------------------------------------------------------------------------------------------


def test_create_stream_tools_and_structured_output_on_the_mock() -> None:
    with running_gateway({"models": [MOCK]}) as gw:
        client = client_for(gw.base_url)
        raw = client.responses.with_raw_response.create(
            model="mock", input="hello there", instructions="Be brief.", metadata={"team": "a"}, user="u-1"
        )
        body = assert_response(json.loads(raw.text))
        assert raw.headers["x-llm-gateway-model-group"] == "mock"
        assert body["status"] == "completed" and body["instructions"] == "Be brief."
        assert body["metadata"] == {"team": "a"} and body["store"] is True
        assert raw.parse().output_text == "This is a mock response from llm-gateway. You said: hello there"
        assert body["usage"]["input_tokens"] > 0 and body["usage"]["total_tokens"] == (
            body["usage"]["input_tokens"] + body["usage"]["output_tokens"]
        )

        with client.responses.stream(model="mock", input="stream me") as stream:
            kinds = [event.type for event in stream]
            final = stream.get_final_response()
        assert kinds[:4] == [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
        ]
        assert kinds[-4:] == [
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed",
        ]
        assert final.output_text.endswith("You said: stream me") and final.usage is not None
        streamed = post(gw.base_url, {"model": "mock", "input": "stream me", "stream": True})
        assert streamed.headers["content-type"].startswith("text/event-stream")
        assert_events(events_of(streamed))

        first = client.responses.create(model="mock", input="weather in Paris?", tools=[WEATHER])
        [call] = first.output
        assert call.type == "function_call" and call.name == "get_weather"
        assert json.loads(call.arguments).keys() == {"city"}
        output = {"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}
        # the whole conversation sent back, as a client keeping its own state does
        replayed = client.responses.create(
            model="mock", tools=[WEATHER], input=[{"role": "user", "content": "weather in Paris?"}, call, output]
        )
        assert replayed.output_text == "Thanks, I used the tool result: sunny"
        # or only the tool's output, after previous_response_id
        continued = client.responses.with_raw_response.create(
            model="mock", tools=[WEATHER], previous_response_id=first.id, input=[output]
        )
        assert assert_response(json.loads(continued.text))["previous_response_id"] == first.id
        assert continued.parse().output_text == "Thanks, I used the tool result: sunny"
        # streamed, the call comes as function-call argument events
        tool_stream = events_of(
            post(gw.base_url, {"model": "mock", "input": "weather?", "tools": [WEATHER], "stream": True})
        )
        assert_events(tool_stream)
        done = next(e for e in tool_stream if e["type"] == "response.function_call_arguments.done")
        assert json.loads(done["arguments"]) == {"city": "mock city"} and done["name"] == "get_weather"

        schema = {
            "type": "object",
            "properties": {"name": {"type": "string"}, "population": {"type": "integer"}},
            "required": ["name", "population"],
            "additionalProperties": False,
        }
        fmt = {"format": {"type": "json_schema", "name": "city", "schema": schema, "strict": True}}
        structured = client.responses.with_raw_response.create(model="mock", input="a city", text=fmt)  # type: ignore[arg-type]
        assert assert_response(json.loads(structured.text))["text"]["format"]["name"] == "city"
        assert json.loads(structured.parse().output_text).keys() == {"name", "population"}


def test_what_the_upstream_is_sent_and_what_comes_back(upstream: FakeOpenAI) -> None:
    upstream.plan(
        Reply(
            text="Bonjour.",
            reasoning="The user greets me.",
            usage={
                "prompt_tokens": 12,
                "completion_tokens": 5,
                "total_tokens": 17,
                "completion_tokens_details": {"reasoning_tokens": 3},
                "prompt_tokens_details": {"cached_tokens": 4},
            },
        )
    )
    with running_gateway({"models": [gpt(upstream)]}) as gw:
        body = {
            "model": "gpt",
            "instructions": "Answer in French.",
            "input": [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Hi"}]}],
            "reasoning": {"effort": "low", "summary": "auto"},
            "max_output_tokens": 100,
            "temperature": 0.2,
            "top_p": 0.9,
            "parallel_tool_calls": False,
            "tools": [WEATHER],
            "tool_choice": "none",
            "text": {"format": {"type": "json_object"}},
            "metadata": {"k": "v"},
            "user": "end-user",
            "store": False,
        }
        answer = post(gw.base_url, body)
        assert answer.status_code == 200, answer.text
        response = assert_response(answer.json())
    [sent] = upstream.chat_requests()
    chat = sent.json()
    assert chat["messages"] == [
        {"role": "system", "content": "Answer in French."},
        {"role": "user", "content": [{"type": "text", "text": "Hi"}]},
    ]
    assert chat["reasoning_effort"] == "low" and chat["max_completion_tokens"] == 100
    assert (chat["temperature"], chat["top_p"], chat["parallel_tool_calls"]) == (0.2, 0.9, False)
    assert chat["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "The weather in a city.",
                "parameters": WEATHER["parameters"],
            },
        }
    ]
    assert chat["tool_choice"] == "none"
    assert chat["response_format"] == {"type": "json_object"}
    assert (chat["metadata"], chat["user"]) == ({"k": "v"}, "end-user")
    assert "store" not in chat and "input" not in chat and "instructions" not in chat
    reasoning, message = response["output"]
    assert reasoning["type"] == "reasoning" and reasoning["summary"] == [
        {"type": "summary_text", "text": "The user greets me."}
    ]
    assert message["content"][0]["text"] == "Bonjour."
    assert response["usage"] == {
        "input_tokens": 12,
        "input_tokens_details": {"cached_tokens": 4, "cache_write_tokens": 0},
        "output_tokens": 5,
        "output_tokens_details": {"reasoning_tokens": 3},
        "total_tokens": 17,
    }
    assert response["store"] is False and response["parallel_tool_calls"] is False


def test_a_cut_answer_is_incomplete_and_a_failure_mid_stream_is_an_error_then_response_failed(
    upstream: FakeOpenAI,
) -> None:
    with running_gateway({"models": [gpt(upstream)]}) as gw:
        upstream.plan(Reply(text="Part of", finish_reason="length"))
        cut = assert_response(post(gw.base_url, {"model": "gpt", "input": "long", "max_output_tokens": 2}).json())
        assert cut["status"] == "incomplete" and cut["incomplete_details"] == {"reason": "max_output_tokens"}

        upstream.plan(CutStream(after=2))
        events = events_of(post(gw.base_url, {"model": "gpt", "input": "hi", "stream": True}))
        assert_events(events)
        assert [e["type"] for e in events[-2:]] == ["error", "response.failed"]
        failed = events[-1]["response"]
        assert failed["status"] == "failed" and failed["error"]["code"] == "server_error"

        upstream.plan(Status(500, "boom"), Status(500, "boom"))  # before the first byte: a real HTTP status
        refused = post(gw.base_url, {"model": "gpt", "input": "hi", "stream": True})
        assert refused.status_code == 502 and assert_error(refused.json())


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"tools": [{"type": "file_search", "vector_store_ids": ["vs_1"]}]}, "tools[0].type"),
        ({"tools": [{"type": "code_interpreter", "container": {"type": "auto"}}]}, "tools[0].type"),
        (
            {
                "tools": [
                    {"type": "computer_use_preview", "display_width": 1, "display_height": 1, "environment": "linux"}
                ]
            },
            "tools[0].type",
        ),
        ({"tools": [{"type": "image_generation"}]}, "tools[0].type"),
        ({"tools": [{"type": "mcp", "server_label": "x", "server_url": "https://example.com"}]}, "tools[0].type"),
        ({"tools": [{"type": "web_search"}]}, "tools[0].type"),
        ({"background": True}, "background"),
        ({"conversation": "conv_1"}, "conversation"),
        ({"prompt": {"id": "pmpt_1"}}, "prompt"),
        ({"input": [{"type": "computer_call_output", "call_id": "c", "output": {}}]}, "input[0].type"),
        ({"temperature": 3}, "temperature"),
        ({"no_such_field": 1}, "no_such_field"),
        ({"text": {"format": {"type": "json_schema", "name": "x"}}}, "text.format.schema"),
    ],
)
def test_what_cannot_be_bridged_is_a_400_naming_the_field(body: dict[str, Any], param: str) -> None:
    with running_gateway({"models": [MOCK]}) as gw:
        refused = post(gw.base_url, {"model": "mock", "input": "hi", **body})
        assert refused.status_code == 400, refused.text
        error = assert_error(refused.json())["error"]
        assert error["param"] == param and error["type"] == "invalid_request_error"


def test_models_openapi_and_endpoints() -> None:
    embed = {"name": "embed", "provider": "mock", "model": "e", "endpoints": ["embeddings"]}
    chat_only = {"name": "chat-only", "provider": "mock", "model": "m", "endpoints": ["chat"]}
    with running_gateway({"models": [MOCK, embed, chat_only]}) as gw:
        listed = httpx.get(f"{gw.base_url}/v1/models", headers={"authorization": f"Bearer {MASTER_KEY}"}).json()
        endpoints = {m["id"]: m["endpoints"] for m in listed["data"]}
        assert "responses" in endpoints["mock"] and "responses" not in endpoints["chat-only"]
        refused = post(gw.base_url, {"model": "chat-only", "input": "hi"})
        assert refused.status_code == 400 and refused.json()["error"]["code"] == "model_not_supported"
        assert post(gw.base_url, {"model": "nope", "input": "hi"}).status_code == 404
        document = httpx.get(f"{gw.base_url}/openapi.json").json()
        assert {"post"} <= set(document["paths"]["/v1/responses"])
        assert {"get", "delete"} <= set(document["paths"]["/v1/responses/{response_id}"])
        assert "/v1/responses/{response_id}/input_items" in document["paths"]
        assert "CreateResponse" in document["components"]["schemas"]


# --- stored responses -------------------------------------------------------------------------------------


def test_stored_responses_are_the_keys_own_and_expire(moto_endpoint: str, dynamodb_tables: dict[str, str]) -> None:
    clock = ManualClock()
    keys = key_store(moto_endpoint, dynamodb_tables)
    alice, _ = make_key(keys, now=clock(), owner="alice")
    bob, _ = make_key(keys, now=clock(), owner="bob")
    config = {"models": [MOCK], "responses": {"store_ttl_seconds": 3600}}
    options = {"aws_clients": aws_clients(moto_endpoint), "clock": clock}
    with running_gateway(config, env=dynamodb_tables, **options) as gw:
        mine = client_for(gw.base_url, alice)
        first = mine.responses.create(model="mock", input="remember me")
        fetched = mine.responses.with_raw_response.retrieve(first.id)
        assert assert_response(json.loads(fetched.text)) == first.to_dict()
        items = mine.responses.input_items.list(first.id)
        assert [(i.type, i.role) for i in items.data] == [("message", "user")]  # type: ignore[union-attr]
        theirs = client_for(gw.base_url, bob)
        with pytest.raises(openai.NotFoundError):
            theirs.responses.retrieve(first.id)
        with pytest.raises(openai.NotFoundError):
            theirs.responses.delete(first.id)
        with pytest.raises(openai.NotFoundError) as continued:
            theirs.responses.create(model="mock", input="and?", previous_response_id=first.id)
        assert continued.value.body["param"] == "previous_response_id"  # type: ignore[index]
        assert mine.responses.retrieve(first.id).id == first.id  # bob's delete did nothing

        unstored = mine.responses.create(model="mock", input="forget me", store=False)
        with pytest.raises(openai.NotFoundError):
            mine.responses.retrieve(unstored.id)

        second = mine.responses.create(model="mock", input="and again", previous_response_id=first.id)
        listed = mine.responses.input_items.list(second.id, order="asc")
        assert [i.type for i in listed.data] == ["message", "message", "message"]

        clock.advance(3601)  # moto never expires items: the store checks expires_at itself
        with pytest.raises(openai.NotFoundError):
            mine.responses.retrieve(first.id)
        with pytest.raises(openai.NotFoundError):
            mine.responses.create(model="mock", input="and?", previous_response_id=second.id)

        third = mine.responses.create(model="mock", input="delete me")
        mine.responses.delete(third.id)
        with pytest.raises(openai.NotFoundError):
            mine.responses.retrieve(third.id)
    import boto3

    table = boto3.resource("dynamodb", endpoint_url=moto_endpoint, region_name="us-east-1").Table(
        dynamodb_tables["LLM_GATEWAY_RESPONSES_TABLE"]
    )
    items = table.scan()["Items"]
    assert items and all(item["pk"].startswith("resp#") and "expires_at" in item for item in items)
    assert all(b"remember me" not in bytes(item["data"].value) for item in items)  # compressed, not plain


# --- the chat pipeline's controls ---------------------------------------------------------------------------


def test_keys_limits_budgets_cache_and_fallbacks_apply(
    upstream: FakeOpenAI, moto_endpoint: str, dynamodb_tables: dict[str, str]
) -> None:
    clock = ManualClock(now=1_764_000_000.0 + 5)
    keys = key_store(moto_endpoint, dynamodb_tables)
    limited, _ = make_key(keys, now=clock(), owner="limited", rpm=1)
    broke, _ = make_key(keys, now=clock(), owner="broke", budget_usd=0.000001)
    other_model, _ = make_key(keys, now=clock(), owner="narrow", models=("backup",))
    config = {
        "models": [gpt(upstream), gpt(upstream, name="backup", model="gpt-4.1-mini", id="backup")],
        "router": {"num_retries": 0, "fallbacks": {"gpt": ["backup"]}},
        "cache": {"backend": "memory"},
        "tenants": {"prices": {"gpt": {"input": 2.5, "output": 10.0}, "backup": {"input": 2.5, "output": 10.0}}},
    }
    options = {"aws_clients": aws_clients(moto_endpoint), "clock": clock}
    with running_gateway(config, env=dynamodb_tables, **options) as gw:
        assert post(gw.base_url, {"model": "gpt", "input": "hi"}, limited).status_code == 200
        refused = post(gw.base_url, {"model": "gpt", "input": "hi"}, limited)
        assert refused.status_code == 429 and assert_error(refused.json())["error"]["code"] == "rate_limit_exceeded"
        over = post(gw.base_url, {"model": "gpt", "input": "hi"}, broke)
        assert over.status_code == 429 and over.json()["error"]["code"] == "insufficient_quota"
        forbidden = post(gw.base_url, {"model": "gpt", "input": "hi"}, other_model)
        assert forbidden.status_code == 403
        assert post(gw.base_url, {"model": "gpt", "input": "hi"}, "sk-not-a-key").status_code == 401

        upstream.reset()
        first = post(gw.base_url, {"model": "gpt", "input": "cache me", "caching": True})
        again = post(gw.base_url, {"model": "gpt", "input": "cache me", "caching": True})
        assert (first.headers["x-llm-gateway-cache"], again.headers["x-llm-gateway-cache"]) == ("miss", "hit")
        assert len(upstream.chat_requests()) == 1
        assert again.json()["id"] != first.json()["id"]  # a new response, with the cached answer
        assert again.json()["output"][0]["content"] == first.json()["output"][0]["content"]

        upstream.reset()
        upstream.plan(Status(500, "down"), model="gpt-4.1")
        fell_back = post(gw.base_url, {"model": "gpt", "input": "fall back"})
        assert fell_back.status_code == 200, fell_back.text
        assert fell_back.headers["x-llm-gateway-model-group"] == "backup"
        assert fell_back.headers.get("x-llm-gateway-fallback")
        assert fell_back.json()["model"] == "gpt"
