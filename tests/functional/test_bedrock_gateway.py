"""The Bedrock provider end to end: the official openai SDK -> the gateway under uvicorn -> a real boto3
bedrock-runtime client whose HTTP layer replays recorded Converse / ConverseStream payloads."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from llm_gateway.providers.fetch import MediaFetchConfig, MediaFetcher
from tests.support.fake_bedrock import (
    CLAUDE,
    Error,
    FakeBedrock,
    Raise,
    Reply,
    Stream,
    image_bytes_of,
    load_fixture,
    post_chat,
    stream_until,
)
from tests.support.fake_media import PNG, FakeMediaServer, Media, resolver
from tests.support.gateway import MASTER_KEY, running_gateway
from tests.support.openai_schema import assert_chunk, assert_completion, assert_error
from tests.support.pacing import FirstBeforeLast
from tests.support.sse import assemble, check_stream, parse_sse_text

pytestmark = pytest.mark.slow

CONFIG = {
    "models": [{"name": "claude", "provider": "bedrock", "model": CLAUDE, "region": "us-east-1"}],
    "server": {"read_timeout": 2.0},
}
USER = [{"role": "user", "content": "Hi"}]


def events(name: str) -> list[tuple[str, dict[str, Any]]]:
    return [(kind, payload) for kind, payload in load_fixture(name)]


@pytest.fixture(scope="module")
def media_server() -> Iterator[FakeMediaServer]:
    server = FakeMediaServer().start()
    server.routes["/cat.png"] = Media()  # type: ignore[attr-defined]
    yield server  # type: ignore[misc]
    server.stop()


@pytest.fixture(scope="module")
def shared_bedrock() -> FakeBedrock:
    return FakeBedrock()


@pytest.fixture(scope="module")
def gateway(shared_bedrock: FakeBedrock) -> Iterator[Any]:
    fetcher = MediaFetcher(
        MediaFetchConfig(allow_http=True),
        resolver=resolver({"images.example": ["127.0.0.1"]}),
        allowed_networks=["127.0.0.0/8"],
    )
    with running_gateway(CONFIG, aws_clients=shared_bedrock.clients, media_fetcher=fetcher) as server:
        yield server


@pytest.fixture
def bedrock(shared_bedrock: FakeBedrock) -> Iterator[FakeBedrock]:
    shared_bedrock.reset()
    yield shared_bedrock
    shared_bedrock.reset()


def client(gateway: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.base_url + "/v1", api_key=MASTER_KEY, max_retries=0)


def test_text_completion(gateway: Any, bedrock: FakeBedrock) -> None:
    bedrock.plan(Reply(load_fixture("converse_text.json")))
    result = client(gateway).chat.completions.create(
        model="claude",
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Capital of France?"}],
        max_completion_tokens=100,
        temperature=0.3,
    )
    assert_completion(result.model_dump(exclude_unset=True))
    assert result.choices[0].message.content == "Paris is the capital of France."
    assert result.choices[0].finish_reason == "stop"
    assert result.usage is not None
    assert result.usage.prompt_tokens_details is not None
    assert result.usage.prompt_tokens_details.cached_tokens == 2048
    sent = bedrock.requests[-1]
    assert (sent.operation, sent.model_id) == ("Converse", CLAUDE)
    assert sent.body["system"] == [{"text": "Be brief."}]
    assert sent.body["inferenceConfig"] == {"maxTokens": 100, "temperature": 0.3}


def test_images_inline_and_by_url(gateway: Any, bedrock: FakeBedrock, media_server: FakeMediaServer) -> None:
    bedrock.plan(Reply(load_fixture("converse_text.json")))
    data_url = "data:image/png;base64," + base64.b64encode(PNG).decode()
    client(gateway).chat.completions.create(
        model="claude",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Same picture?"},
                    {"type": "image_url", "image_url": {"url": data_url}},
                    {"type": "image_url", "image_url": {"url": f"http://images.example:{media_server.port}/cat.png"}},
                ],
            }
        ],
    )
    blocks = bedrock.last()["messages"][0]["content"]
    assert blocks[1]["image"]["format"] == blocks[2]["image"]["format"] == "png"
    assert image_bytes_of(blocks[1]["image"]) == image_bytes_of(blocks[2]["image"]) == PNG
    assert media_server.requests[-1].headers["host"] == f"images.example:{media_server.port}"


def test_forbidden_image_url_is_a_400_before_bedrock_is_called(gateway: Any, bedrock: FakeBedrock) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client(gateway).chat.completions.create(
            model="claude",
            messages=[
                {
                    "role": "user",
                    "content": [{"type": "image_url", "image_url": {"url": "http://169.254.169.254/latest/"}}],
                }
            ],
        )
    body = assert_error(info.value.response.json())
    assert body["error"]["code"] == "media_url_refused"
    assert body["error"]["param"] == "messages[0].content[0].image_url.url"
    assert bedrock.requests == []


def test_tool_calls_round_trip(gateway: Any, bedrock: FakeBedrock) -> None:
    bedrock.plan(Reply(load_fixture("converse_tool_use.json")), Reply(load_fixture("converse_text.json")))
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
        },
        {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object"}}},
    ]
    sdk = client(gateway)
    first = sdk.chat.completions.create(model="claude", messages=USER, tools=tools, tool_choice="required")
    assert_completion(first.model_dump(exclude_unset=True))
    message = first.choices[0].message
    assert first.choices[0].finish_reason == "tool_calls"
    assert [c.function.name for c in message.tool_calls or []] == ["get_weather", "get_time"]
    assert [c.function.arguments for c in message.tool_calls or []] == ['{"city":"Paris","unit":"celsius"}', "{}"]
    assert bedrock.last()["toolConfig"]["toolChoice"] == {"any": {}}
    history = [
        *USER,
        message.model_dump(exclude_none=True),
        *({"role": "tool", "tool_call_id": c.id, "content": "sunny"} for c in message.tool_calls or []),
    ]
    sdk.chat.completions.create(model="claude", messages=history, tools=tools)
    turns = bedrock.last()["messages"]
    assert [t["role"] for t in turns] == ["user", "assistant", "user"]
    assert [b["toolResult"]["toolUseId"] for b in turns[2]["content"]] == [
        "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q",
        "tooluse_Xc9aB1YpT2m0QkLsVvWd3g",
    ]
    assert turns[1]["content"][1]["toolUse"]["input"] == {"city": "Paris", "unit": "celsius"}


def test_stream_with_parallel_tool_calls_and_usage(gateway: Any, bedrock: FakeBedrock) -> None:
    bedrock.plan(Stream(events("stream_parallel_tools.json")))
    chunks = list(
        client(gateway).chat.completions.create(
            model="claude", messages=USER, stream=True, stream_options={"include_usage": True}
        )
    )
    dumped = [assert_chunk(c.model_dump(exclude_unset=True)) for c in chunks]
    choice = assemble(dumped)[0]
    assert choice["role"] == "assistant"
    assert [call["name"] for call in choice["tool_calls"].values()] == ["get_weather", "get_weather", "get_time"]
    assert [call["arguments"] for call in choice["tool_calls"].values()] == [
        '{"city": "Paris"}',
        '{"city": "Tokyo"}',
        "{}",
    ]
    assert choice["finish_reason"] == "tool_calls"
    assert dumped[-1]["choices"] == []
    assert dumped[-1]["usage"]["prompt_tokens_details"]["cached_tokens"] == 1024
    assert bedrock.requests[-1].operation == "ConverseStream"


def test_stream_without_include_usage_has_no_usage_chunk(gateway: Any, bedrock: FakeBedrock) -> None:
    bedrock.plan(Stream(events("stream_text.json")))
    chunks = list(client(gateway).chat.completions.create(model="claude", messages=USER, stream=True))
    assert all(c.choices for c in chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Hello! How can I help you today?"


def test_chunks_go_out_as_they_come(gateway: Any, bedrock: FakeBedrock) -> None:
    pacing = FirstBeforeLast()  # Bedrock's last event waits until the client has the first text
    bedrock.plan(Stream(events("stream_text.json"), last_waits_for=pacing))
    texts = []
    for chunk in client(gateway).chat.completions.create(model="claude", messages=USER, stream=True):
        if chunk.choices and chunk.choices[0].delta.content:
            texts.append(chunk.choices[0].delta.content)
            pacing.client_has_first()
    assert len(texts) == 3
    assert pacing.in_order  # buffered delivery would bunch them at the end


ERROR_CASES = [
    (Error(429, "ThrottlingException", "Too many requests"), 429, "rate_limit_exceeded"),
    (Error(400, "ValidationException", "Input is too long for requested model."), 400, "context_length_exceeded"),
    (
        Error(403, "AccessDeniedException", "arn:aws:iam::123456789012:role/x is not authorized"),
        502,
        "upstream_auth_error",
    ),
    (Error(404, "ResourceNotFoundException", "Model not found"), 404, "model_not_found"),
    (Error(503, "ServiceUnavailableException", "unavailable"), 503, "service_unavailable"),
    (Error(408, "ModelTimeoutException", "timed out"), 504, "upstream_timeout"),
]


@pytest.mark.parametrize(("reply", "status", "code"), ERROR_CASES, ids=[c[0].code for c in ERROR_CASES])
def test_errors_before_the_answer(gateway: Any, bedrock: FakeBedrock, reply: Error, status: int, code: str) -> None:
    for stream in (False, True):
        bedrock.plan(reply)
        response = post_chat(gateway.base_url, {"model": "claude", "messages": USER, "stream": stream}, MASTER_KEY)
        assert response.status_code == status
        body = assert_error(response.json())
        assert body["error"]["code"] == code
        assert "123456789012" not in response.text


def test_error_mid_stream_is_an_error_frame(gateway: Any, bedrock: FakeBedrock) -> None:
    bedrock.plan(
        Stream(
            events("stream_text.json")[:3],
            exception=("modelStreamErrorException", {"message": "The model failed", "originalStatusCode": 500}),
        )
    )
    response = post_chat(gateway.base_url, {"model": "claude", "messages": USER, "stream": True}, MASTER_KEY)
    chunks, error = check_stream(parse_sse_text(response.text))
    assert [c["choices"][0]["delta"].get("content") for c in chunks] == ["", "Hello", "! How can I"]
    assert error is not None
    assert "The model failed" in error["error"]["message"]


def test_connection_failure(gateway: Any, bedrock: FakeBedrock) -> None:
    from botocore.exceptions import EndpointConnectionError

    bedrock.plan(Raise(EndpointConnectionError(endpoint_url="https://bedrock-runtime.us-east-1.amazonaws.com")))
    with pytest.raises(openai.APIStatusError) as info:
        client(gateway).chat.completions.create(model="claude", messages=USER)
    assert info.value.status_code == 502
    assert assert_error(info.value.response.json())["error"]["code"] == "upstream_connection_error"


def test_silent_stream_times_out_and_is_closed(gateway: Any, bedrock: FakeBedrock) -> None:
    bedrock.plan(Stream(events("stream_text.json")[:2], hang=True))
    response = post_chat(gateway.base_url, {"model": "claude", "messages": USER, "stream": True}, MASTER_KEY)
    _, error = check_stream(parse_sse_text(response.text))
    assert error is not None
    assert error["error"]["code"] == "upstream_timeout"  # the read timeout ended it: the stream hangs for good
    assert bedrock.raws[-1].closed.wait(30)


def test_client_disconnect_closes_the_bedrock_stream(gateway: Any, bedrock: FakeBedrock) -> None:
    bedrock.plan(Stream(events("stream_text.json") * 20, delay=0.05))
    stream_until(gateway.base_url, {"model": "claude", "messages": USER, "stream": True}, MASTER_KEY, "Hello")
    assert bedrock.raws[-1].closed.wait(5), "the upstream event stream was not closed"


def test_thinking_with_tools_round_trips_the_signed_block(gateway: Any, bedrock: FakeBedrock) -> None:
    reply = load_fixture("converse_tool_use.json")
    reply["output"]["message"]["content"].insert(
        0, {"reasoningContent": {"reasoningText": {"text": "Use the tools.", "signature": "EqQBsig"}}}
    )
    bedrock.plan(Reply(reply), Reply(load_fixture("converse_text.json")))
    tools = [
        {"type": "function", "function": {"name": n, "parameters": {"type": "object"}}}
        for n in ("get_weather", "get_time")
    ]
    sdk = client(gateway)
    first = sdk.chat.completions.create(model="claude", messages=USER, tools=tools, reasoning_effort="low")
    assert bedrock.last()["additionalModelRequestFields"]["thinking"]["type"] == "enabled"
    message = first.choices[0].message.model_dump(exclude_none=True)
    assert message["reasoning_content"] == "Use the tools."
    results = [{"role": "tool", "tool_call_id": c["id"], "content": "ok"} for c in message["tool_calls"]]
    sdk.chat.completions.create(
        model="claude", messages=[*USER, message, *results], tools=tools, reasoning_effort="low"
    )
    assistant = bedrock.last()["messages"][1]["content"]
    assert assistant[0] == {"reasoningContent": {"reasoningText": {"text": "Use the tools.", "signature": "EqQBsig"}}}
    assert [next(iter(b)) for b in assistant[1:]] == ["text", "toolUse", "toolUse"]
