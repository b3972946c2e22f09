"""Recorded Converse responses and ConverseStream event lists -> OpenAI objects, schema-checked."""

from __future__ import annotations

from typing import Any

import pytest

from llm_gateway.errors import UpstreamConnectionError, UpstreamStatusError
from llm_gateway.providers.bedrock.response import map_response
from llm_gateway.providers.bedrock.stream import ConverseStreamMapper
from tests.support.fake_bedrock import load_fixture, provider_call
from tests.support.openai_schema import assert_chunk, assert_completion
from tests.support.sse import assemble

NOW = 1_760_000_000.7


def complete(fixture: str, json_tool: str | None = None) -> dict[str, Any]:
    call = provider_call({"messages": [{"role": "user", "content": "x"}]})
    return assert_completion(map_response(call, load_fixture(fixture), NOW, json_tool))


RESPONSES = [
    (
        "converse_text.json",
        {"content": "Paris is the capital of France.", "refusal": None, "role": "assistant"},
        "stop",
        {
            "prompt_tokens": 2060,
            "completion_tokens": 9,
            "total_tokens": 2069,
            "prompt_tokens_details": {"cached_tokens": 2048, "cache_write_tokens": 0},
        },
    ),
    (
        "converse_tool_use.json",
        {
            "role": "assistant",
            "content": "I'll check the weather in both cities.",
            "refusal": None,
            "tool_calls": [
                {
                    "id": "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Paris","unit":"celsius"}'},
                },
                {
                    "id": "tooluse_Xc9aB1YpT2m0QkLsVvWd3g",
                    "type": "function",
                    "function": {"name": "get_time", "arguments": "{}"},
                },
            ],
        },
        "tool_calls",
        {
            "prompt_tokens": 388,
            "completion_tokens": 96,
            "total_tokens": 484,
            "prompt_tokens_details": {"cached_tokens": 0},
        },
    ),
    (
        "converse_reasoning.json",
        {
            "role": "assistant",
            "content": "27 \u00d7 453 = 12,231.",
            "refusal": None,
            "reasoning_content": "27 * 453: 27*400=10800, 27*53=1431, total 12231.",
            "thinking_blocks": [
                {
                    "type": "thinking",
                    "thinking": "27 * 453: 27*400=10800, 27*53=1431, total 12231.",
                    "signature": "EqQBCkgIARABGAIiQ",
                }
            ],
        },
        "stop",
        None,
    ),
    (
        "converse_max_tokens.json",
        {"role": "assistant", "content": "Once upon a time, in a", "refusal": None},
        "length",
        None,
    ),
    (
        "converse_guardrail.json",
        {"role": "assistant", "content": "Sorry, the model cannot answer this question.", "refusal": None},
        "content_filter",
        None,
    ),
]


@pytest.mark.parametrize(("fixture", "message", "finish", "usage"), RESPONSES, ids=[r[0] for r in RESPONSES])
def test_response_mapping(fixture: str, message: dict[str, Any], finish: str, usage: dict[str, Any] | None) -> None:
    result = complete(fixture)
    assert result["choices"][0]["message"] == message
    assert result["choices"][0]["finish_reason"] == finish
    assert result["created"] == 1_760_000_000
    assert result["model"] == "anthropic.claude-sonnet-4-5-20250929-v1:0"
    assert result["id"].startswith("chatcmpl-")
    if usage is not None:
        assert result["usage"] == usage


def test_json_tool_emulation_turns_the_tool_input_into_content() -> None:
    data = {
        "output": {
            "message": {
                "role": "assistant",
                "content": [{"toolUse": {"toolUseId": "t", "name": "person", "input": {"n": "Ada"}}}],
            }
        },
        "stopReason": "tool_use",
        "usage": {"inputTokens": 1, "outputTokens": 2, "totalTokens": 3},
    }
    call = provider_call({"messages": [{"role": "user", "content": "x"}]})
    result = assert_completion(map_response(call, data, NOW, "person"))
    assert result["choices"][0]["message"]["content"] == '{"n":"Ada"}'
    assert "tool_calls" not in result["choices"][0]["message"]
    assert result["choices"][0]["finish_reason"] == "stop"


def run_stream(
    events: list[Any], *, want_usage: bool = True, json_tool: str | None = None, **body: Any
) -> list[dict[str, Any]]:
    call = provider_call({"messages": [{"role": "user", "content": "x"}], "stream": True, **body})
    call.want_usage = want_usage
    mapper = ConverseStreamMapper(call, created=NOW, request_id="b7e1f0c2-9d4a", json_tool=json_tool)
    chunks = [chunk for kind, payload in events for chunk in mapper.feed({kind: payload})]
    chunks += mapper.finish()
    for chunk in chunks:
        assert_chunk(chunk)
    assert len({c["id"] for c in chunks}) == 1
    return chunks


def test_text_stream() -> None:
    chunks = run_stream(load_fixture("stream_text.json"))
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert [c["choices"][0]["delta"].get("content") for c in chunks[1:4]] == [
        "Hello",
        "! How can I",
        " help you today?",
    ]
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["total_tokens"] == 19


def test_parallel_tool_calls_get_their_own_indexes() -> None:
    chunks = run_stream(load_fixture("stream_parallel_tools.json"))
    choice = assemble(chunks)[0]
    assert choice["reasoning_content"] == "Two cities, two calls."
    thinking = [d for c in chunks for d in c["choices"][:1] if "thinking_blocks" in d["delta"]]
    assert [t["delta"]["thinking_blocks"] for t in thinking] == [
        [{"index": 0, "type": "thinking", "thinking": "Two cities, two calls.", "signature": "ErUBCkYIBRgCIkDx"}]
    ]
    assert choice["content"] == "Checking both."
    assert choice["tool_calls"] == {
        0: {"id": "tooluse_P4r1sA", "name": "get_weather", "arguments": '{"city": "Paris"}'},
        1: {"id": "tooluse_T0ky0B", "name": "get_weather", "arguments": '{"city": "Tokyo"}'},
        2: {"id": "tooluse_N0Args", "name": "get_time", "arguments": "{}"},
    }
    assert choice["finish_reason"] == "tool_calls"
    usage = chunks[-1]["usage"]
    assert usage["prompt_tokens"] == 1426
    assert usage["prompt_tokens_details"]["cached_tokens"] == 1024


def test_usage_chunk_only_when_asked() -> None:
    chunks = run_stream(load_fixture("stream_text.json"), want_usage=False)
    assert all(c["choices"] for c in chunks)


def test_json_tool_stream_becomes_content() -> None:
    events = [
        ["messageStart", {"role": "assistant"}],
        [
            "contentBlockStart",
            {"contentBlockIndex": 0, "start": {"toolUse": {"toolUseId": "t1", "name": "json_response"}}},
        ],
        ["contentBlockDelta", {"contentBlockIndex": 0, "delta": {"toolUse": {"input": '{"a": '}}}],
        ["contentBlockDelta", {"contentBlockIndex": 0, "delta": {"toolUse": {"input": "1}"}}}],
        ["contentBlockStop", {"contentBlockIndex": 0}],
        ["messageStop", {"stopReason": "tool_use"}],
    ]
    choice = assemble(run_stream(events, json_tool="json_response"))[0]
    assert choice["content"] == '{"a": 1}'
    assert choice["tool_calls"] == {}
    assert choice["finish_reason"] == "stop"


def test_stream_cut_before_message_stop_is_an_error() -> None:
    with pytest.raises(UpstreamConnectionError) as info:
        run_stream(load_fixture("stream_text.json")[:3])
    assert info.value.code == "upstream_stream_cut"


def test_exception_event_is_mapped() -> None:
    with pytest.raises(UpstreamStatusError) as info:
        run_stream([["messageStart", {"role": "assistant"}], ["throttlingException", {"message": "slow down"}]])
    assert info.value.status_code == 429


def test_parallel_tool_calls_false_keeps_the_first_call() -> None:
    """Converse cannot be told; the answer's first call is the one the client gets (LangChain's and
    llama-index's structured output send parallel_tool_calls: false unasked)."""
    chunks = run_stream(load_fixture("stream_parallel_tools.json"), parallel_tool_calls=False)
    calls = assemble(chunks)[0]["tool_calls"]
    assert list(calls) == [0]
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"
    data = {
        "output": {
            "message": {
                "role": "assistant",
                "content": [
                    {"toolUse": {"toolUseId": "a", "name": "f", "input": {}}},
                    {"toolUse": {"toolUseId": "b", "name": "g", "input": {}}},
                ],
            }
        },
        "stopReason": "tool_use",
        "usage": {"inputTokens": 1, "outputTokens": 2, "totalTokens": 3},
    }
    call = provider_call({"messages": [{"role": "user", "content": "x"}], "parallel_tool_calls": False})
    message = assert_completion(map_response(call, data, NOW, None))["choices"][0]["message"]
    assert [c["id"] for c in message["tool_calls"]] == ["a"]
