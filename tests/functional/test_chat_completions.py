"""The OpenAI wire format round-trips intact through the gateway (openai SDK, real sockets)."""

from __future__ import annotations

import json

import httpx
import openai
import pytest

from tests.support.fake_openai import FakeOpenAI, Reply
from tests.support.openai_schema import assert_completion
from tests.support.sse import assemble, check_stream, parse_sse_text

pytestmark = pytest.mark.slow

USER = [{"role": "user", "content": "What's the weather in Paris?"}]
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]},
    },
}


def dump(model: object) -> dict:
    return model.model_dump(exclude_unset=True)  # type: ignore[attr-defined, no-any-return]


def test_non_stream_answer_is_the_upstream_answer(client: openai.OpenAI, fake_openai: FakeOpenAI) -> None:
    raw = client.chat.completions.with_raw_response.create(model="gpt-test", messages=USER)
    result = raw.parse()
    assert_completion(dump(result))
    assert result.choices[0].message.content == "Hello from the fake upstream."
    assert result.usage is not None and result.usage.total_tokens > 0
    assert raw.headers["x-llm-gateway-model-group"] == "gpt-test"
    assert raw.headers["x-llm-gateway-deployment"] == "gpt-test/openai/fake-model"
    assert raw.headers["x-request-id"].startswith("req_")
    sent = fake_openai.chat_requests()[-1]
    assert sent.json()["model"] == "fake-model"
    assert sent.headers["authorization"] == "Bearer sk-upstream-secret-key-abcdef0123"


def test_unknown_fields_pass_through_and_extensions_do_not(http: httpx.Client, fake_openai: FakeOpenAI) -> None:
    body = {
        "model": "gpt-test",
        "messages": USER,
        "temperature": 0.1,
        "seed": 3,
        "logit_bias": {"1": 2},
        "future_param": {"x": [1]},
        "num_retries": 1,
        "caching": False,
        "fallbacks": ["mock"],
        "cache": {"no-store": True},
        "context_window_fallback_dict": {"gpt-test": "mock"},
        "guardrails": [],
    }
    assert http.post("/v1/chat/completions", json=body).status_code == 200
    sent = fake_openai.chat_requests()[-1].json()
    assert sent["future_param"] == {"x": [1]} and sent["seed"] == 3 and sent["logit_bias"] == {"1": 2}
    for extension in ("num_retries", "caching", "fallbacks", "cache", "context_window_fallback_dict", "guardrails"):
        assert extension not in sent


def test_n_2_non_stream_and_stream(client: openai.OpenAI) -> None:
    result = client.chat.completions.create(model="gpt-test", messages=USER, n=2)
    assert [c.index for c in result.choices] == [0, 1]
    assert_completion(dump(result))
    chunks = [dump(c) for c in client.chat.completions.create(model="gpt-test", messages=USER, n=2, stream=True)]
    choices = assemble(chunks)
    assert set(choices) == {0, 1}
    assert all(
        c["content"] == "Hello from the fake upstream." and c["finish_reason"] == "stop" for c in choices.values()
    )


def test_tools_round_trip_non_stream(client: openai.OpenAI, fake_openai: FakeOpenAI) -> None:
    result = client.chat.completions.create(
        model="gpt-test", messages=USER, tools=[WEATHER_TOOL], tool_choice="auto", parallel_tool_calls=True
    )
    assert_completion(dump(result))
    call = result.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert call.function.name == "get_weather" and json.loads(call.function.arguments) == {"location": "Paris"}
    assert result.choices[0].finish_reason == "tool_calls"
    sent = fake_openai.chat_requests()[-1].json()
    assert sent["tools"] == [WEATHER_TOOL] and sent["parallel_tool_calls"] is True
    follow_up = [
        *USER,
        result.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "sunny"},
    ]
    client.chat.completions.create(model="gpt-test", messages=follow_up, tools=[WEATHER_TOOL])
    assert fake_openai.chat_requests()[-1].json()["messages"][2]["tool_call_id"] == call.id


def test_parallel_tool_calls_stream(client: openai.OpenAI, fake_openai: FakeOpenAI) -> None:
    fake_openai.plan(
        Reply(tool_calls=[("get_weather", '{"location": "Paris"}'), ("get_weather", '{"location": "Rome"}')])
    )
    chunks = [
        dump(c)
        for c in client.chat.completions.create(model="gpt-test", messages=USER, tools=[WEATHER_TOOL], stream=True)
    ]
    calls = assemble(chunks)[0]["tool_calls"]
    assert [json.loads(calls[i]["arguments"])["location"] for i in (0, 1)] == ["Paris", "Rome"]
    assert assemble(chunks)[0]["finish_reason"] == "tool_calls"


def test_legacy_functions_are_forwarded_intact(http: httpx.Client, fake_openai: FakeOpenAI) -> None:
    functions = [{"name": "lookup", "parameters": {"type": "object", "properties": {}}}]
    messages = [
        *USER,
        {"role": "assistant", "content": None, "function_call": {"name": "lookup", "arguments": "{}"}},
        {"role": "function", "name": "lookup", "content": "42"},
    ]
    body = {"model": "gpt-test", "messages": messages, "functions": functions, "function_call": "auto"}
    assert http.post("/v1/chat/completions", json=body).status_code == 200
    sent = fake_openai.chat_requests()[-1].json()
    assert sent["functions"] == functions and sent["function_call"] == "auto" and sent["messages"] == messages


def test_mock_provider_legacy_function_call(client: openai.OpenAI) -> None:
    result = client.chat.completions.create(
        model="mock",
        messages=USER,
        functions=[
            {
                "name": "lookup",
                "parameters": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]},
            }
        ],
    )
    assert_completion(dump(result))
    assert result.choices[0].finish_reason == "function_call"
    assert json.loads(result.choices[0].message.function_call.arguments) == {"q": "mock q"}  # type: ignore[union-attr]


def test_include_usage_stream(client: openai.OpenAI, fake_openai: FakeOpenAI) -> None:
    chunks = [
        dump(c)
        for c in client.chat.completions.create(
            model="gpt-test", messages=USER, stream=True, stream_options={"include_usage": True}
        )
    ]
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] > 0
    assert all(c["choices"] for c in chunks[:-1])


def test_stream_without_include_usage_has_no_usage(http: httpx.Client, fake_openai: FakeOpenAI) -> None:
    response = http.post("/v1/chat/completions", json={"model": "gpt-test", "messages": USER, "stream": True})
    assert response.headers["content-type"].startswith("text/event-stream")
    chunks, error = check_stream(parse_sse_text(response.text))
    assert error is None
    assert all(c["choices"] and "usage" not in c for c in chunks)
    # ...although the gateway asked the upstream for it (spend tracking needs it)
    assert fake_openai.chat_requests()[-1].json()["stream_options"] == {"include_usage": True}


def test_reasoning_content_passes_through(client: openai.OpenAI, fake_openai: FakeOpenAI) -> None:
    fake_openai.plan(Reply(text="4", reasoning="2+2 is 4"), Reply(text="4", reasoning="2+2 is 4"))
    result = client.chat.completions.create(model="gpt-test", messages=USER)
    assert result.choices[0].message.reasoning_content == "2+2 is 4"  # type: ignore[attr-defined]
    chunks = [dump(c) for c in client.chat.completions.create(model="gpt-test", messages=USER, stream=True)]
    assert assemble(chunks)[0]["reasoning_content"] == "2+2 is 4"


async def test_async_client_stream_and_non_stream(async_client: openai.AsyncOpenAI) -> None:
    result = await async_client.chat.completions.create(model="gpt-test", messages=USER)
    assert result.choices[0].message.content == "Hello from the fake upstream."
    stream = await async_client.chat.completions.create(model="gpt-test", messages=USER, stream=True)
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == "Hello from the fake upstream."


def test_include_usage_is_honoured_even_when_the_upstream_ignores_it(
    client: openai.OpenAI, fake_openai: FakeOpenAI
) -> None:
    fake_openai.plan(Reply(text="one two three four", omit_usage=True))
    chunks = [
        dump(c)
        for c in client.chat.completions.create(
            model="gpt-test", messages=USER, stream=True, stream_options={"include_usage": True}
        )
    ]
    assert chunks[-1]["choices"] == [] and chunks[-1]["id"] == chunks[0]["id"]
    usage = chunks[-1]["usage"]
    assert usage["completion_tokens"] == 5 and usage["prompt_tokens"] > 0  # estimated: 18 chars of text
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
