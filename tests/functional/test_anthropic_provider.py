"""The gateway in front of an Anthropic-shaped upstream, driven with the official ``openai`` SDK over a
real socket. Every response, chunk and error frame is checked against OpenAI's schema; the fake
upstream checks every request against Anthropic's own rules."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.support.fake_anthropic import API_KEY, CutStream, ErrorEvent, FakeAnthropic, Reply, Status
from tests.support.gateway import MASTER_KEY, running_gateway
from tests.support.openai_schema import assert_completion, assert_error
from tests.support.pacing import FirstBeforeLast
from tests.support.servers import UvicornThread
from tests.support.sse import assemble, check_stream, iter_sse_lines, parse_sse_lines

pytestmark = pytest.mark.slow

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 32).decode()
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


def anthropic_config(api_base: str, **extra: Any) -> dict[str, Any]:
    common = {"provider": "anthropic", "api_base": api_base, "api_key": "env:TEST_ANTHROPIC_KEY"}
    return {
        "models": [
            {"name": "claude", "model": "claude-sonnet-4-5-20250929", **common, **extra},
            {"name": "claude-old", "model": "claude-3-5-haiku-20241022", **common, **extra},
        ]
    }


@pytest.fixture(scope="module")
def fake_anthropic_server() -> Iterator[FakeAnthropic]:
    server = FakeAnthropic().start()
    yield server
    server.stop()


@pytest.fixture
def fake(fake_anthropic_server: FakeAnthropic) -> Iterator[FakeAnthropic]:
    fake_anthropic_server.reset()
    yield fake_anthropic_server
    fake_anthropic_server.reset()


@pytest.fixture(scope="module")
def gateway(fake_anthropic_server: FakeAnthropic) -> Iterator[UvicornThread]:
    with running_gateway(
        anthropic_config(fake_anthropic_server.base_url), env={"TEST_ANTHROPIC_KEY": API_KEY}
    ) as server:
        yield server


@pytest.fixture
def client(gateway: UvicornThread) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.base_url + "/v1", api_key=MASTER_KEY, max_retries=0)


def raw_stream(gateway: UvicornThread, body: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    headers = {"authorization": f"Bearer {MASTER_KEY}"}
    with httpx.stream(
        "POST", gateway.base_url + "/v1/chat/completions", json={**body, "stream": True}, headers=headers, timeout=30
    ) as response:
        assert response.status_code == 200, response.read()
        return check_stream(parse_sse_lines(response.iter_lines()))


def sent(fake: FakeAnthropic) -> dict[str, Any]:
    body: dict[str, Any] = fake.message_requests()[-1].json()
    return body


def test_text_completion_and_request_shape(client: openai.OpenAI, fake: FakeAnthropic) -> None:
    result = client.chat.completions.create(
        model="claude",
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "developer", "content": "Answer in English."},
            {"role": "user", "content": "Hi"},
            {"role": "user", "content": [{"type": "text", "text": "there"}]},
        ],
        temperature=0.3,
        stop="END",
        user="alice@example.com",
    )
    body = result.model_dump(exclude_unset=True)
    assert_completion(body)
    assert result.choices[0].message.content == "Hello from the fake Anthropic."
    assert result.choices[0].finish_reason == "stop"
    assert result.id == "chatcmpl-msg_01FakeAnthropic"
    assert result.usage is not None and result.usage.total_tokens == result.usage.prompt_tokens + 5

    request = fake.message_requests()[-1]
    assert request.headers["x-api-key"] == API_KEY
    assert request.headers["anthropic-version"] == "2023-06-01"
    upstream = request.json()
    assert upstream["model"] == "claude-sonnet-4-5-20250929"
    assert upstream["max_tokens"] == 4096
    assert upstream["system"] == [{"type": "text", "text": "Be brief."}, {"type": "text", "text": "Answer in English."}]
    assert upstream["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "Hi"}, {"type": "text", "text": "there"}]}
    ]
    assert upstream["temperature"] == 0.3
    assert upstream["stop_sequences"] == ["END"]
    assert upstream["metadata"]["user_id"].startswith("sha256:")  # never an e-mail address


def test_images_by_data_url_and_https_url(client: openai.OpenAI, fake: FakeAnthropic) -> None:
    client.chat.completions.create(
        model="claude",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Compare these"},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                    {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg", "detail": "high"}},
                ],
            }
        ],
    )
    content = sent(fake)["messages"][0]["content"]
    assert content[1] == {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}
    assert content[2] == {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}}


def test_audio_input_is_a_clear_400(client: openai.OpenAI, fake: FakeAnthropic) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model="claude",
            messages=[
                {"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}]}
            ],
        )
    assert caught.value.status_code == 400
    assert_error(caught.value.response.json())
    assert caught.value.code == "unsupported_content"
    assert "Anthropic" in caught.value.message
    assert fake.message_requests() == []


def test_tool_call_round_trip(client: openai.OpenAI, fake: FakeAnthropic) -> None:
    fake.plan(Reply(text="", tools=[("get_weather", {"city": "Paris"})]))
    first = client.chat.completions.create(
        model="claude",
        messages=[{"role": "user", "content": "Weather in Paris?"}],
        tools=[WEATHER_TOOL],
        tool_choice="required",
        parallel_tool_calls=False,
    )
    assert_completion(first.model_dump(exclude_unset=True))
    message = first.choices[0].message
    assert first.choices[0].finish_reason == "tool_calls"
    assert message.content is None
    assert message.tool_calls is not None
    assert json.loads(message.tool_calls[0].function.arguments) == {"city": "Paris"}
    upstream = sent(fake)
    assert upstream["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}
    assert upstream["tools"][0]["input_schema"]["required"] == ["city"]

    # The client sends the history back, including an id another provider minted (not Anthropic-safe).
    history: list[Any] = [
        {"role": "user", "content": "Weather in Paris and Rome?"},
        message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": message.tool_calls[0].id, "content": "18C, sunny"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "functions.get_weather:1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": ""},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "functions.get_weather:1", "content": [{"type": "text", "text": "21C"}]},
    ]
    second = client.chat.completions.create(model="claude", messages=history, tools=[WEATHER_TOOL])
    assert second.choices[0].message.content == "Hello from the fake Anthropic."
    turns = sent(fake)["messages"]
    assert [t["role"] for t in turns] == ["user", "assistant", "user", "assistant", "user"]
    rewritten = turns[3]["content"][0]["id"]
    assert turns[4]["content"][0]["tool_use_id"] == rewritten != "functions.get_weather:1"
    assert turns[3]["content"][0]["input"] == {}


def test_invalid_tool_arguments_in_history_are_a_400(client: openai.OpenAI, fake: FakeAnthropic) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model="claude",
            messages=[
                {"role": "user", "content": "hi"},
                {
                    "role": "assistant",
                    "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{oops"}}],
                },
                {"role": "tool", "tool_call_id": "c1", "content": "x"},
            ],
        )
    assert caught.value.code == "invalid_tool_arguments"
    assert caught.value.param == "messages[1].tool_calls[0].function.arguments"


def test_parallel_tool_calls_stream_with_usage(gateway: UvicornThread, fake: FakeAnthropic) -> None:
    fake.plan(
        Reply(
            text="Checking both.",
            tools=[("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Rome"}), ("get_time", {})],
            usage={"cache_read_input_tokens": 100, "cache_creation_input_tokens": 20, "input_tokens": 7},
        )
    )
    chunks, error = raw_stream(
        gateway,
        {
            "model": "claude",
            "messages": [{"role": "user", "content": "Weather in Paris and Rome, and the time?"}],
            "tools": [WEATHER_TOOL],
            "stream_options": {"include_usage": True},
        },
    )
    assert error is None
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    choice = assemble(chunks)[0]
    assert choice["content"] == "Checking both."
    assert choice["finish_reason"] == "tool_calls"
    calls = choice["tool_calls"]
    assert sorted(calls) == [0, 1, 2]  # per-call index, not Anthropic's block index (1, 2, 3)
    assert [json.loads(calls[i]["arguments"]) for i in range(3)] == [{"city": "Paris"}, {"city": "Rome"}, {}]
    assert all(calls[i]["id"].startswith("toolu_") for i in range(3))
    usage_chunk = chunks[-1]
    assert usage_chunk["choices"] == []
    usage = usage_chunk["usage"]
    assert usage["prompt_tokens"] == 127
    assert usage["prompt_tokens_details"] == {"cached_tokens": 100, "cache_write_tokens": 20}
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert all(c["usage"] is None for c in chunks[:-1])
    assert sent(fake)["stream"] is True


def test_stream_without_include_usage_has_no_usage_chunk(client: openai.OpenAI, fake: FakeAnthropic) -> None:
    fake.plan(Reply(thinking="Let me think.", text="Done thinking."))
    stream = client.chat.completions.create(
        model="claude", messages=[{"role": "user", "content": "hi"}], stream=True, reasoning_effort="low"
    )
    chunks = list(stream)
    assert all(chunk.choices for chunk in chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Done thinking."
    reasoning = "".join(getattr(c.choices[0].delta, "reasoning_content", None) or "" for c in chunks)
    assert reasoning == "Let me think."
    upstream = sent(fake)
    assert upstream["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert upstream["max_tokens"] == 4096 + 2048


def test_json_schema_emulated_with_a_tool_on_older_models(client: openai.OpenAI, fake: FakeAnthropic) -> None:
    fake.plan(Reply(text="", tools=[("json_output", {"name": "Ada", "age": 36})]))
    schema = {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}}}
    result = client.chat.completions.create(
        model="claude-old",
        messages=[{"role": "user", "content": "Ada, 36"}],
        response_format={"type": "json_schema", "json_schema": {"name": "person", "schema": schema}},
    )
    assert_completion(result.model_dump(exclude_unset=True))
    assert json.loads(result.choices[0].message.content or "") == {"name": "Ada", "age": 36}
    assert result.choices[0].finish_reason == "stop"
    assert result.choices[0].message.tool_calls is None
    upstream = sent(fake)
    assert upstream["tool_choice"] == {"type": "tool", "name": "json_output"}
    assert upstream["tools"][0]["input_schema"] == schema


def test_json_schema_native_on_newer_models(client: openai.OpenAI, fake: FakeAnthropic) -> None:
    fake.plan(Reply(text='{"ok": true}'))
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "additionalProperties": False}
    result = client.chat.completions.create(
        model="claude",
        messages=[{"role": "user", "content": "ok?"}],
        response_format={"type": "json_schema", "json_schema": {"name": "ok", "schema": schema, "strict": True}},
    )
    assert result.choices[0].message.content == '{"ok": true}'
    assert sent(fake)["output_config"] == {"format": {"type": "json_schema", "schema": schema}}
    assert "tools" not in sent(fake)


def test_unsupported_parameter_is_a_400_unless_dropped(client: openai.OpenAI, fake: FakeAnthropic) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="claude", messages=[{"role": "user", "content": "hi"}], n=2)
    assert caught.value.param == "n"
    assert "Anthropic" in caught.value.message
    assert fake.message_requests() == []
    result = client.chat.completions.create(
        model="claude",
        messages=[{"role": "user", "content": "hi"}],
        seed=7,
        logit_bias={"50256": -100},
        extra_body={"drop_params": True},
    )
    assert result.choices[0].message.content
    upstream = sent(fake)
    assert "seed" not in upstream and "logit_bias" not in upstream and "drop_params" not in upstream


RATE_LIMITED = Status(
    429, "rate_limit_error", "Number of request tokens has exceeded your rate limit", {"retry-after": "7"}
)
TOO_LONG = Status(400, "invalid_request_error", "prompt is too long: 210266 tokens > 200000 maximum")
TOO_LARGE = Status(413, "request_too_large", "Request exceeds the maximum allowed number of bytes.")
ERROR_CASES = [
    (RATE_LIMITED, 429, "rate_limit_exceeded", openai.RateLimitError),
    (Status(529, "overloaded_error", "Overloaded"), 503, "upstream_overloaded", openai.InternalServerError),
    (Status(500, "api_error", "Internal server error"), 502, "upstream_error", openai.InternalServerError),
    (TOO_LONG, 400, "context_length_exceeded", openai.BadRequestError),
    (Status(404, "not_found_error", "model: claude-nope"), 404, "model_not_found", openai.NotFoundError),
    (TOO_LARGE, 413, "request_too_large", openai.APIStatusError),
]


@pytest.mark.parametrize(("behaviour", "status", "code", "error_class"), ERROR_CASES)
def test_upstream_errors_map_to_openai_errors(
    client: openai.OpenAI,
    fake: FakeAnthropic,
    behaviour: Status,
    status: int,
    code: str,
    error_class: type[openai.APIStatusError],
) -> None:
    fake.plan(behaviour)
    with pytest.raises(error_class) as caught:
        client.chat.completions.create(model="claude", messages=[{"role": "user", "content": "hi"}])
    assert caught.value.status_code == status
    assert_error(caught.value.response.json())
    assert caught.value.code == code
    if status == 429:
        assert caught.value.response.headers["retry-after"] == "7"


def test_rejected_upstream_key_is_a_502_that_does_not_leak_it(
    fake: FakeAnthropic, fake_anthropic_server: FakeAnthropic
) -> None:
    config = anthropic_config(fake_anthropic_server.base_url)
    with running_gateway(config, env={"TEST_ANTHROPIC_KEY": "sk-ant-wrong-key-123456789"}) as gw:
        client = openai.OpenAI(base_url=gw.base_url + "/v1", api_key=MASTER_KEY, max_retries=0)
        with pytest.raises(openai.APIStatusError) as caught:
            client.chat.completions.create(model="claude", messages=[{"role": "user", "content": "hi"}])
    assert caught.value.status_code == 502
    assert caught.value.code == "upstream_auth_error"
    assert "sk-ant-wrong" not in caught.value.response.text


@pytest.mark.parametrize("fault", [ErrorEvent(after=2), CutStream(after=2)])
def test_mid_stream_failures_end_in_an_error_frame(
    gateway: UvicornThread, fake: FakeAnthropic, fault: ErrorEvent | CutStream
) -> None:
    fake.plan(fault)
    chunks, error = raw_stream(gateway, {"model": "claude", "messages": [{"role": "user", "content": "hi"}]})
    assert error is not None
    assert assemble(chunks)[0]["content"] == "one two "
    # a cut connection surfaces as a read error (reset) or as an end before message_stop
    expected = (
        {"upstream_overloaded"}
        if isinstance(fault, ErrorEvent)
        else {"upstream_connection_error", "upstream_stream_cut"}
    )
    assert error["error"]["code"] in expected


def test_error_event_surfaces_as_an_sdk_error(client: openai.OpenAI, fake: FakeAnthropic) -> None:
    fake.plan(ErrorEvent(after=1))
    stream = client.chat.completions.create(model="claude", messages=[{"role": "user", "content": "hi"}], stream=True)
    with pytest.raises(openai.APIError, match="overloaded"):
        list(stream)


def test_chunks_go_out_as_they_come_in(gateway: UvicornThread, fake: FakeAnthropic) -> None:
    pacing = FirstBeforeLast()  # Anthropic's last event waits until the client has the first word
    fake.plan(Reply(text="a b c d e f", last_waits_for=pacing))
    headers = {"authorization": f"Bearer {MASTER_KEY}"}
    body = {"model": "claude", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    words = []
    with httpx.stream(
        "POST", gateway.base_url + "/v1/chat/completions", json=body, headers=headers, timeout=30
    ) as response:
        for m in iter_sse_lines(response.iter_lines()):
            if m.data != "[DONE]" and (m.json()["choices"] or [{}])[0].get("delta", {}).get("content"):
                words.append(m)
                pacing.client_has_first()
    assert len(words) == 6
    assert pacing.in_order  # a buffering gateway would deliver them together, after the last event


async def test_async_client_streams_parallel_tool_calls(gateway: UvicornThread, fake: FakeAnthropic) -> None:
    fake.plan(Reply(text="", tools=[("get_weather", {"city": "Oslo"}), ("get_weather", {"city": "Lima"})]))
    client = openai.AsyncOpenAI(base_url=gateway.base_url + "/v1", api_key=MASTER_KEY, max_retries=0)
    stream = await client.chat.completions.create(
        model="claude",
        messages=[{"role": "user", "content": "Oslo and Lima?"}],
        tools=[WEATHER_TOOL],
        stream=True,
        stream_options={"include_usage": True},
    )
    arguments: dict[int, str] = {}
    finish = None
    usage = None
    async for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            for call in choice.delta.tool_calls or []:
                arguments[call.index] = arguments.get(call.index, "") + (
                    call.function.arguments or "" if call.function else ""
                )
            finish = choice.finish_reason or finish
    await client.close()
    assert {i: json.loads(a) for i, a in arguments.items()} == {0: {"city": "Oslo"}, 1: {"city": "Lima"}}
    assert finish == "tool_calls"
    assert usage is not None and usage.completion_tokens == 21


def test_legacy_functions_get_a_function_call(client: openai.OpenAI, fake: FakeAnthropic) -> None:
    fake.plan(Reply(text="", tools=[("get_weather", {"city": "Oslo"})]))
    result = client.chat.completions.create(
        model="claude",
        messages=[{"role": "user", "content": "Oslo?"}],
        functions=[WEATHER_TOOL["function"]],
    )
    assert_completion(result.model_dump(exclude_unset=True))
    message = result.choices[0].message
    assert result.choices[0].finish_reason == "function_call"
    assert message.function_call is not None and message.function_call.name == "get_weather"
    assert json.loads(message.function_call.arguments) == {"city": "Oslo"}
    assert message.tool_calls is None
    assert sent(fake)["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}


def test_thinking_with_tools_round_trips_through_the_sdk(client: openai.OpenAI, fake: FakeAnthropic) -> None:
    fake.plan(Reply(thinking="Need the weather tool.", text="", tools=[("get_weather", {"city": "Bern"})]))
    question = {"role": "user", "content": "Weather in Bern?"}
    first = client.chat.completions.create(
        model="claude", messages=[question], tools=[WEATHER_TOOL], reasoning_effort="minimal"
    )
    assert_completion(first.model_dump(exclude_unset=True))
    message = first.choices[0].message
    assert getattr(message, "reasoning_content", None) == "Need the weather tool."
    assert message.tool_calls is not None
    # The client appends the assistant message as the SDK gives it (thinking_blocks included) and the result.
    history = [
        question,
        message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": message.tool_calls[0].id, "content": "12C"},
    ]
    second = client.chat.completions.create(
        model="claude", messages=history, tools=[WEATHER_TOOL], reasoning_effort="minimal"
    )
    assert second.choices[0].message.content == "Hello from the fake Anthropic."
    assistant_turn = sent(fake)["messages"][1]["content"]
    assert assistant_turn[0]["type"] == "thinking" and assistant_turn[0]["signature"]
    # Without the thinking blocks (what openai-node's runTools and most frameworks send), the gateway
    # puts back the blocks it kept for that tool call, and thinking stays on.
    history[1] = {k: v for k, v in history[1].items() if k != "thinking_blocks"}
    third = client.chat.completions.with_raw_response.create(
        model="claude", messages=history, tools=[WEATHER_TOOL], reasoning_effort="minimal"
    )
    assert third.parse().choices[0].message.content == "Hello from the fake Anthropic."
    assert "x-llm-gateway-thinking" not in third.headers
    assert sent(fake)["messages"][1]["content"][0] == assistant_turn[0]
