"""Recorded Anthropic SSE streams -> the exact OpenAI chunks, through the real SSE decoder."""

from __future__ import annotations

import json
from typing import Any

import pytest

from llm_gateway.errors import GatewayError, UpstreamConnectionError
from llm_gateway.providers.anthropic.settings import settings_for
from llm_gateway.providers.anthropic.stream import AnthropicStreamMapper
from llm_gateway.providers.anthropic.tools import plan_response
from llm_gateway.providers.sse import SSEDecoder
from tests.support.openai_schema import assert_chunk
from tests.support.sse import assemble
from tests.unit.providers.anthropic.helpers import FIXTURES, make_call

NOW = 1700000000.0
TOOLS = [
    {"type": "function", "function": {"name": "get_weather"}},
    {"type": "function", "function": {"name": "get_time"}},
]
CASES = {
    "text": ({}, {}),
    "tools": ({"tools": TOOLS}, {}),
    "thinking": ({"reasoning_effort": "low"}, {"model": "claude-3-7-sonnet-20250219"}),
    "json_mode": ({"response_format": {"type": "json_object"}}, {"model": "claude-3-5-haiku-20241022"}),
}


def mapper_for(extra: dict[str, Any], deployment: dict[str, Any], *, want_usage: bool = True) -> AnthropicStreamMapper:
    body = {"model": "claude", "messages": [{"role": "user", "content": "hi"}], "stream": True, **extra}
    call = make_call(body, deployment, want_usage=want_usage)
    return AnthropicStreamMapper(call, plan_response(call.body, settings_for(call.deployment.config)), NOW)


def run(mapper: AnthropicStreamMapper, raw: bytes, piece: int | None = None) -> list[dict[str, Any]]:
    decoder = SSEDecoder()
    chunks: list[dict[str, Any]] = []
    pieces = [raw] if piece is None else [raw[i : i + piece] for i in range(0, len(raw), piece)]
    for part in pieces:
        for event in decoder.feed(part):
            chunks += mapper.feed(event.event, event.data)
    for event in decoder.close():
        chunks += mapper.feed(event.event, event.data)
    return chunks + mapper.finish()


def recorded(name: str) -> bytes:
    return (FIXTURES / "streams" / f"{name}.sse").read_bytes()


@pytest.mark.parametrize("name", sorted(CASES))
def test_recorded_stream(name: str) -> None:
    extra, deployment = CASES[name]
    chunks = run(mapper_for(extra, deployment), recorded(name))
    for chunk in chunks:
        assert_chunk(chunk)
    assert chunks == json.loads((FIXTURES / "streams" / f"{name}.expected.json").read_text())
    assert len({(c["id"], c["created"]) for c in chunks}) == 1


@pytest.mark.parametrize("name", sorted(CASES))
def test_byte_by_byte_delivery_gives_the_same_chunks(name: str) -> None:
    extra, deployment = CASES[name]
    whole = run(mapper_for(extra, deployment), recorded(name))
    assert run(mapper_for(extra, deployment), recorded(name), piece=7) == whole


def test_tool_call_indexes_count_tool_calls_not_blocks() -> None:
    chunks = run(mapper_for({"tools": TOOLS}, {}), recorded("tools"))
    calls = assemble(chunks)[0]["tool_calls"]
    assert {i: (c["name"], c["arguments"]) for i, c in calls.items()} == {
        0: ("get_weather", '{"location": "San Francisco, CA"}'),
        1: ("get_time", "{}"),
    }


def test_without_usage_there_is_no_usage_anywhere() -> None:
    chunks = run(mapper_for({}, {}, want_usage=False), recorded("text"))
    assert all("usage" not in c and c["choices"] for c in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


def test_error_event_raises_the_mapped_error_after_the_earlier_chunks() -> None:
    mapper = mapper_for({}, {})
    decoder = SSEDecoder()
    seen: list[dict[str, Any]] = []
    with pytest.raises(GatewayError) as caught:
        for event in decoder.feed(recorded("overloaded")):
            seen += mapper.feed(event.event, event.data)
    assert (caught.value.status_code, caught.value.code) == (503, "upstream_overloaded")
    assert assemble(seen)[0]["content"] == "Once upon"


def test_a_stream_cut_before_message_stop_is_an_error() -> None:
    with pytest.raises(UpstreamConnectionError) as caught:
        run(mapper_for({}, {}), recorded("cut"))
    assert caught.value.code == "upstream_stream_cut"


def test_wrapped_json_mode_is_buffered_and_unwrapped() -> None:
    schema = {"type": "array", "items": {"type": "integer"}}
    mapper = mapper_for(
        {"response_format": {"type": "json_schema", "json_schema": {"name": "n", "schema": schema}}},
        {"model": "claude-3-5-haiku-20241022"},
    )
    raw = (
        recorded("json_mode")
        .replace(b'{\\"name\\": \\"Ada\\"', b'{\\"values\\": [1, 2')
        .replace(b', \\"age\\": 36}', b", 3]}")
    )
    choice = assemble(run(mapper, raw))[0]
    assert choice["content"] == "[1,2,3]"
    assert choice["finish_reason"] == "stop"


@pytest.mark.parametrize(
    ("event", "data"),
    [
        ("content_block_delta", '{"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta"}}'),
        ("message_start", "{not json"),
        ("message_start", "[1, 2]"),
    ],
)
def test_malformed_or_out_of_order_events(event: str, data: str) -> None:
    with pytest.raises(UpstreamConnectionError) as caught:
        mapper_for({}, {}).feed(event, data)
    assert caught.value.code == "upstream_bad_response"


def test_unknown_events_and_pings_are_ignored() -> None:
    mapper = mapper_for({}, {})
    assert mapper.feed("ping", '{"type": "ping"}') == []
    assert mapper.feed("future_event", '{"type": "future_event", "x": 1}') == []


def test_server_tool_blocks_are_not_client_tool_calls() -> None:
    mapper = mapper_for({}, {})
    events = [
        {
            "type": "message_start",
            "message": {"id": "msg_s", "model": "claude-sonnet-4-5", "usage": {"input_tokens": 5}},
        },
        {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {}},
        },
        {"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": '{"q": 1}'}},
        {"type": "content_block_stop", "index": 0},
        {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": "Sunny."}},
        {"type": "content_block_stop", "index": 1},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 3}},
        {"type": "message_stop"},
    ]
    chunks = [chunk for event in events for chunk in mapper.feed(event["type"], json.dumps(event))]
    choice = assemble(chunks)[0]
    assert (choice["content"], choice["tool_calls"], choice["finish_reason"]) == ("Sunny.", {}, "stop")


def test_legacy_functions_stream_as_a_function_call() -> None:
    functions = [{"name": "get_weather"}, {"name": "get_time"}]
    chunks = run(mapper_for({"functions": functions}, {}), recorded("tools"))
    for chunk in chunks:
        assert_chunk(chunk)
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert not any("tool_calls" in d for d in deltas)
    pieces = [d["function_call"] for d in deltas if "function_call" in d]
    assert pieces[0] == {"name": "get_weather", "arguments": ""}
    assert "".join(p["arguments"] for p in pieces) == '{"location": "San Francisco, CA"}'  # one call only
    assert chunks[-2]["choices"][0]["finish_reason"] == "function_call"


def _sse(*events: dict[str, Any]) -> bytes:
    return b"".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events)


def test_a_tool_use_whose_start_carries_the_input_streams_those_arguments() -> None:
    """Some Anthropic-compatible servers put the whole input in content_block_start and send no
    input_json_delta: the arguments are that input, not "{}"."""
    start = {"type": "message_start", "message": {"id": "msg_1", "model": "claude", "usage": {"input_tokens": 5}}}
    tool = {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris", "days": 2}}
    raw = _sse(
        start,
        {"type": "content_block_start", "index": 0, "content_block": tool},
        {"type": "content_block_stop", "index": 0},
        {"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 9}},
        {"type": "message_stop"},
    )
    chunks = run(mapper_for({"tools": TOOLS}, {}), raw)
    for chunk in chunks:
        assert_chunk(chunk)
    call = assemble(chunks)[0]["tool_calls"][0]
    assert (call["id"], call["name"], json.loads(call["arguments"])) == (
        "toolu_1",
        "get_weather",
        {"city": "Paris", "days": 2},
    )
