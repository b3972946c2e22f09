"""The Gemini provider end to end: the official openai SDK -> the gateway under uvicorn -> a fake Gemini.

Every response and chunk is validated against OpenAI's schema; what the fake received is checked too.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.support.fake_gemini import (
    API_KEY,
    FakeGemini,
    GCutStream,
    GMalformedFrame,
    GReply,
    GStatus,
    GStreamError,
)
from tests.support.gateway import MASTER_KEY, running_gateway
from tests.support.openai_schema import assert_chunk, assert_completion, assert_error
from tests.support.pacing import FirstBeforeLast
from tests.support.sse import assemble, check_stream, parse_sse_lines

pytestmark = pytest.mark.slow

PNG = (
    "data:image/png;base64,"
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
            "additionalProperties": False,
        },
    },
}
TIME_TOOL = {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}}}
USER = [{"role": "user", "content": "hi"}]


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeGemini]:
    server = FakeGemini().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def gateway(fake: FakeGemini) -> Iterator[Any]:
    config = {
        "models": [
            {
                "name": "gem",
                "provider": "gemini",
                "model": "gemini-2.5-flash",
                "api_base": fake.v1beta,
                "api_key": API_KEY,
            },
            {
                "name": "gem-badkey",
                "provider": "gemini",
                "model": "gemini-2.5-flash",
                "api_base": fake.v1beta,
                "api_key": "AIzaSyWrongKey-0000000000000000000000",
            },
        ]
    }
    with running_gateway(config) as server:
        yield server


@pytest.fixture
def client(gateway: Any, fake: FakeGemini) -> Iterator[openai.OpenAI]:
    fake.reset()
    with openai.OpenAI(base_url=gateway.base_url + "/v1", api_key=MASTER_KEY, max_retries=0) as sdk:
        yield sdk


def _stream(client: openai.OpenAI, **kwargs: Any) -> list[dict[str, Any]]:
    chunks = [c.model_dump(exclude_unset=True) for c in client.chat.completions.create(stream=True, **kwargs)]
    for chunk in chunks:
        assert_chunk(chunk)
    return chunks


def test_text_completion_and_what_gemini_received(client: openai.OpenAI, fake: FakeGemini) -> None:
    result = client.chat.completions.create(
        model="gem",
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}],
        temperature=0.2,
        max_completion_tokens=20,
    )
    assert_completion(result.model_dump(exclude_unset=True))
    assert result.choices[0].message.content == "Hello from fake Gemini."
    assert result.choices[0].finish_reason == "stop"
    assert result.usage is not None and result.usage.total_tokens == result.usage.prompt_tokens + 4
    sent = fake.requests[-1]
    assert sent.path == "/v1beta/models/gemini-2.5-flash:generateContent"
    assert sent.headers["x-goog-api-key"] == API_KEY and API_KEY not in sent.path
    assert sent.json() == {
        "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "generationConfig": {"temperature": 0.2, "maxOutputTokens": 20},
    }


def test_streamed_text_with_and_without_usage(client: openai.OpenAI, fake: FakeGemini) -> None:
    chunks = _stream(client, model="gem", messages=USER, stream_options={"include_usage": True})
    assert fake.requests[-1].path == "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    joined = assemble(chunks)[0]
    assert joined["content"] == "Hello from fake Gemini." and joined["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 4
    assert len([c for c in chunks if c["choices"]]) >= 5  # role, 3 words, finish: chunks go out as they come

    plain = _stream(client, model="gem", messages=USER)
    assert all(c["choices"] for c in plain) and all(c.get("usage") is None for c in plain)


def test_chunks_reach_the_client_while_gemini_is_still_producing(client: openai.OpenAI, fake: FakeGemini) -> None:
    pacing = FirstBeforeLast()  # Gemini's last event waits until the client has the first word
    fake.plan(GReply(text="one two three four five", last_waits_for=pacing))
    words = []
    for chunk in client.chat.completions.create(model="gem", messages=USER, stream=True):
        if chunk.choices and chunk.choices[0].delta.content:
            words.append(chunk.choices[0].delta.content)
            pacing.client_has_first()
    assert len(words) == 5
    assert pacing.in_order  # not one burst at the end


def test_images_go_inline_or_by_reference(client: openai.OpenAI, fake: FakeGemini) -> None:
    client.chat.completions.create(
        model="gem",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Compare."},
                    {"type": "image_url", "image_url": {"url": PNG}},
                    {"type": "image_url", "image_url": {"url": "https://example.com/a/cat.webp"}},
                ],
            }
        ],
    )
    parts = fake.requests[-1].json()["contents"][0]["parts"]
    assert parts[1] == {"inlineData": {"mimeType": "image/png", "data": PNG.split(",", 1)[1]}}
    assert parts[2] == {"fileData": {"mimeType": "image/webp", "fileUri": "https://example.com/a/cat.webp"}}


def test_tool_round_trip_recovers_the_function_name(client: openai.OpenAI, fake: FakeGemini) -> None:
    first = client.chat.completions.create(model="gem", messages=USER, tools=[WEATHER_TOOL], tool_choice="required")
    assert_completion(first.model_dump(exclude_unset=True))
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    assert choice.message.tool_calls is not None
    call = choice.message.tool_calls[0]
    assert call.function.name == "get_weather" and json.loads(call.function.arguments) == {"location": "Paris"}
    sent = fake.requests[-1].json()
    assert sent["toolConfig"] == {"functionCallingConfig": {"mode": "ANY"}}
    assert "additionalProperties" in sent["tools"][0]["functionDeclarations"][0]["parametersJsonSchema"]

    second = client.chat.completions.create(
        model="gem",
        messages=[
            *USER,
            choice.message.model_dump(exclude_none=True),  # type: ignore[list-item]
            {"role": "tool", "tool_call_id": call.id, "content": "sunny, 21C"},
        ],
        tools=[WEATHER_TOOL],
        tool_choice="none",
    )
    assert second.choices[0].message.content == "Hello from fake Gemini."
    contents = fake.requests[-1].json()["contents"]
    assert contents[1] == {
        "role": "model",
        "parts": [{"functionCall": {"name": "get_weather", "args": {"location": "Paris"}}}],
    }
    assert contents[2] == {
        "role": "user",
        "parts": [{"functionResponse": {"name": "get_weather", "response": {"output": "sunny, 21C"}}}],
    }


def test_parallel_tool_calls_in_a_stream_and_the_signature_round_trip(client: openai.OpenAI, fake: FakeGemini) -> None:
    fake.plan(
        GReply(calls=[("get_weather", {"city": "Paris"}), ("get_time", {})], signature="c2lnbmF0dXJlLWJ5dGVz+/w=")
    )
    chunks = _stream(
        client, model="gem", messages=USER, tools=[WEATHER_TOOL, TIME_TOOL], stream_options={"include_usage": True}
    )
    joined = assemble(chunks)[0]
    assert joined["finish_reason"] == "tool_calls"
    calls = joined["tool_calls"]
    assert sorted(calls) == [0, 1]
    assert (calls[0]["name"], json.loads(calls[0]["arguments"])) == ("get_weather", {"city": "Paris"})
    assert (calls[1]["name"], calls[1]["arguments"]) == ("get_time", "{}")
    assert calls[0]["id"] != calls[1]["id"]

    history = [
        *USER,
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": c["id"], "type": "function", "function": {"name": c["name"], "arguments": c["arguments"]}}
                for c in (calls[0], calls[1])
            ],
        },
        {"role": "tool", "tool_call_id": calls[1]["id"], "content": '{"time": "14:05"}'},
        {"role": "tool", "tool_call_id": calls[0]["id"], "content": '{"sky": "clear"}'},
    ]
    client.chat.completions.create(model="gem", messages=history, tools=[WEATHER_TOOL, TIME_TOOL])
    contents = fake.requests[-1].json()["contents"]
    assert contents[1]["parts"][0]["thoughtSignature"] == "c2lnbmF0dXJlLWJ5dGVz+/w="
    assert "thoughtSignature" not in contents[1]["parts"][1]
    assert [p["functionResponse"]["name"] for p in contents[2]["parts"]] == ["get_time", "get_weather"]


def test_thoughts_come_back_as_reasoning_content(client: openai.OpenAI, fake: FakeGemini) -> None:
    fake.plan(GReply(text="42", thought="Thinking about it."), GReply(text="42", thought="Thinking about it."))
    result = client.chat.completions.create(model="gem", messages=USER, reasoning_effort="low")
    message = result.model_dump()["choices"][0]["message"]
    assert message["content"] == "42" and message["reasoning_content"] == "Thinking about it."
    assert result.usage is not None and result.usage.completion_tokens_details is not None
    assert result.usage.completion_tokens_details.reasoning_tokens == 5
    assert fake.requests[-1].json()["generationConfig"]["thinkingConfig"] == {
        "thinkingBudget": 1024,
        "includeThoughts": True,
    }
    joined = assemble(_stream(client, model="gem", messages=USER, reasoning_effort="low"))[0]
    assert joined["reasoning_content"] == "Thinking about it." and joined["content"] == "42"


def test_n_candidates_and_a_blocked_prompt(client: openai.OpenAI, fake: FakeGemini) -> None:
    result = client.chat.completions.create(model="gem", messages=USER, n=2)
    assert [c.index for c in result.choices] == [0, 1]
    assert fake.requests[-1].json()["generationConfig"] == {"candidateCount": 2}
    fake.plan(GReply(block_reason="SAFETY"))
    blocked = client.chat.completions.create(model="gem", messages=USER)
    assert_completion(blocked.model_dump(exclude_unset=True))
    assert blocked.choices[0].finish_reason == "content_filter" and blocked.choices[0].message.content is None


@pytest.mark.parametrize(
    ("fault", "status", "code", "retry_after"),
    [
        (GStatus(429, "RESOURCE_EXHAUSTED", "Quota exceeded.", retry_delay="7s"), 429, "rate_limit_exceeded", "7"),
        (GStatus(503, "UNAVAILABLE", "The model is overloaded."), 503, "upstream_overloaded", None),
        (GStatus(500, "INTERNAL", "Internal error encountered."), 502, "upstream_error", None),
        (
            GStatus(
                400,
                "INVALID_ARGUMENT",
                "The input token count (2000000) exceeds the maximum number of tokens allowed (1048576).",
            ),
            400,
            "context_length_exceeded",
            None,
        ),
        (GStatus(404, "NOT_FOUND", "models/x is not found for API version v1beta"), 404, "model_not_found", None),
    ],
)
@pytest.mark.parametrize("stream", [False, True], ids=["buffered", "stream"])
def test_upstream_errors_reach_the_client_in_openai_shape(
    gateway: Any, fake: FakeGemini, fault: GStatus, status: int, code: str, retry_after: str | None, stream: bool
) -> None:
    fake.reset()
    fake.plan(fault)
    with httpx.Client(base_url=gateway.base_url, timeout=30) as http:
        response = http.post(
            "/v1/chat/completions",
            headers={"authorization": f"Bearer {MASTER_KEY}"},
            json={"model": "gem", "messages": USER, "stream": stream},
        )
    assert response.status_code == status
    body = assert_error(response.json())
    assert body["error"]["code"] == code
    assert response.headers.get("retry-after") == retry_after


def test_bad_upstream_key_is_a_gateway_error_that_never_shows_the_key(client: openai.OpenAI) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(model="gem-badkey", messages=USER)
    assert caught.value.status_code == 502
    body = caught.value.response.json()
    assert_error(body)
    assert body["error"]["code"] == "upstream_auth_error"
    assert "AIzaSy" not in caught.value.response.text


def test_unsupported_parameter_is_refused_before_calling_gemini(client: openai.OpenAI, fake: FakeGemini) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="gem", messages=USER, logit_bias={"50256": -100})
    assert caught.value.body["param"] == "logit_bias"  # type: ignore[index]
    assert fake.requests == []
    result = client.chat.completions.create(
        model="gem", messages=USER, logit_bias={"50256": -100}, extra_body={"drop_params": True}
    )
    assert result.choices[0].message.content == "Hello from fake Gemini."
    assert "logit_bias" not in json.dumps(fake.requests[-1].json())


@pytest.mark.parametrize(
    ("fault", "code"),
    [
        (GCutStream(after=2), "upstream_stream_cut"),
        (GMalformedFrame(after=2), "upstream_bad_response"),
        (GStreamError(after=2), "upstream_error"),
    ],
)
def test_stream_failures_after_the_first_byte_end_with_an_error_frame(
    gateway: Any, fake: FakeGemini, fault: Any, code: str
) -> None:
    fake.reset()
    fake.plan(fault)
    with (
        httpx.Client(base_url=gateway.base_url, timeout=30) as http,
        http.stream(
            "POST",
            "/v1/chat/completions",
            headers={"authorization": f"Bearer {MASTER_KEY}"},
            json={"model": "gem", "messages": USER, "stream": True},
        ) as response,
    ):
        assert response.status_code == 200
        messages = parse_sse_lines(response.iter_lines())
    chunks, error = check_stream(messages)
    assert assemble(chunks)[0]["content"] == "one two "
    assert error is not None and error["error"]["code"] == code


async def test_async_sdk_stream_with_usage(gateway: Any, fake: FakeGemini) -> None:
    fake.reset()
    fake.plan(GReply(text="alpha beta", thought="hmm"))
    async with openai.AsyncOpenAI(base_url=gateway.base_url + "/v1", api_key=MASTER_KEY, max_retries=0) as sdk:
        stream = await sdk.chat.completions.create(
            model="gem", messages=USER, stream=True, stream_options={"include_usage": True}
        )
        chunks = [chunk.model_dump(exclude_unset=True) async for chunk in stream]
    for chunk in chunks:
        assert_chunk(chunk)
    joined = assemble(chunks)[0]
    assert (joined["content"], joined["reasoning_content"], joined["finish_reason"]) == ("alpha beta", "hmm", "stop")
    usage = chunks[-1]["usage"]
    assert usage["completion_tokens_details"]["reasoning_tokens"] == 5
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
