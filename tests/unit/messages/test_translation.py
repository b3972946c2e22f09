"""The Messages <-> chat translation, piece by piece (the whole path is tested over sockets in
tests/clients/test_anthropic_messages.py and tests/functional/test_messages_*.py)."""

from __future__ import annotations

from typing import Any

import pytest

from llm_gateway.errors import InvalidRequestError
from llm_gateway.messages.errors import error_body
from llm_gateway.messages.from_chat import message_from_chat, stop_reason
from llm_gateway.messages.stream import ChatToEvents
from llm_gateway.messages.to_chat import to_chat
from llm_gateway.schemas.validation import validate_chat_request
from tests.support.anthropic_schema import assert_event, assert_message


def test_a_tool_loop_becomes_chat_turns_in_order() -> None:
    body = to_chat(
        {
            "model": "m",
            "max_tokens": 10,
            "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
            "messages": [
                {"role": "user", "content": "Weather?"},
                {
                    "role": "assistant",
                    "content": [
                        {"type": "thinking", "thinking": "hm", "signature": "sig"},
                        {"type": "text", "text": "Let me look."},
                        {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Paris"}},
                    ],
                },
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "and be quick"},
                        {"type": "tool_result", "tool_use_id": "toolu_1", "content": "boom", "is_error": True},
                    ],
                },
                {"role": "system", "content": "A mid-conversation note."},
            ],
        }
    ).body
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather?"},
        {
            "role": "assistant",
            "content": "Let me look.",
            "tool_calls": [
                {"id": "toolu_1", "type": "function", "function": {"name": "weather", "arguments": '{"city":"Paris"}'}}
            ],
        },
        {"role": "tool", "tool_call_id": "toolu_1", "content": "Error: boom"},  # the result right after its call
        {"role": "user", "content": [{"type": "text", "text": "and be quick"}]},
        {"role": "system", "content": "A mid-conversation note."},
    ]
    validate_chat_request(body)  # a valid chat request, cache_control and thinking left out


def test_options_images_and_what_only_claude_can_serve() -> None:
    translation = to_chat(
        {
            "model": "m",
            "max_tokens": 10,
            "stream": True,
            "stop_sequences": ["END"],
            "metadata": {"user_id": "u-1"},
            "thinking": {"type": "enabled", "budget_tokens": 20000},
            "tool_choice": {"type": "any", "disable_parallel_tool_use": True},
            "tools": [
                {"name": "weather", "input_schema": {"type": "object"}},
                {"type": "web_search_20250305", "name": "web_search"},
            ],
            "mcp_servers": [{"type": "url", "url": "https://mcp.example", "name": "x"}],
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAA"}}
                    ],
                }
            ],
        }
    )
    body = translation.body
    assert body["messages"][0]["content"] == [{"type": "image_url", "image_url": {"url": "data:image/png;base64,AAA"}}]
    assert (body["stop"], body["user"], body["reasoning_effort"]) == (["END"], "u-1", "high")
    assert (body["tool_choice"], body["parallel_tool_calls"]) == ("required", False)
    assert [tool["function"]["name"] for tool in body["tools"]] == ["weather"]
    assert body["stream_options"] == {"include_usage": True}
    assert translation.lossy == ["the server tool 'web_search' (web_search_20250305)", "'mcp_servers'"]


@pytest.mark.parametrize(
    ("thinking", "output", "effort"),
    [
        ({"type": "enabled", "budget_tokens": 1024}, None, "low"),
        ({"type": "enabled", "budget_tokens": 10000}, None, "medium"),
        ({"type": "adaptive"}, {"effort": "max"}, "high"),
        ({"type": "adaptive"}, None, "medium"),
        ({"type": "disabled"}, None, None),
    ],
)
def test_thinking_becomes_a_reasoning_effort(thinking: dict[str, Any], output: Any, effort: str | None) -> None:
    data: dict[str, Any] = {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}
    data["thinking"] = thinking
    if output is not None:
        data["output_config"] = output
    assert to_chat(data).body.get("reasoning_effort") == effort


def test_a_chat_answer_becomes_a_valid_message() -> None:
    answer = {
        "id": "chatcmpl-1",
        "choices": [
            {
                "index": 0,
                "finish_reason": "tool_calls",
                "message": {
                    "role": "assistant",
                    "content": "Looking.",
                    "reasoning_content": "hm",
                    "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "w", "arguments": '{"a":1}'}}],
                },
            }
        ],
        "usage": {
            "prompt_tokens": 100,
            "completion_tokens": 7,
            "prompt_tokens_details": {"cached_tokens": 60, "cache_write_tokens": 10},
        },
    }
    message = assert_message(message_from_chat(answer, "claude", "req_1"))
    assert [b["type"] for b in message["content"]] == ["thinking", "text", "tool_use"]
    assert message["content"][2]["input"] == {"a": 1} and message["stop_reason"] == "tool_use"
    assert message["id"] == "msg_req_1"
    assert message["usage"] == {
        "input_tokens": 30,
        "output_tokens": 7,
        "cache_read_input_tokens": 60,
        "cache_creation_input_tokens": 10,
    }


@pytest.mark.parametrize(
    ("finish", "stop"),
    [("stop", "end_turn"), ("length", "max_tokens"), ("tool_calls", "tool_use"), ("content_filter", "refusal")],
)
def test_stop_reasons(finish: str, stop: str) -> None:
    assert stop_reason(finish) == stop


def test_chat_chunks_become_the_anthropic_event_sequence() -> None:
    writer = ChatToEvents("msg_1", "m", 12)

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    events = writer.start()
    events += writer.feed(chunk({"reasoning_content": "hm"}))
    events += writer.feed(chunk({"thinking_blocks": [{"type": "thinking", "thinking": "hm", "signature": "sig"}]}))
    events += writer.feed(chunk({"content": "Hi"}))
    events += writer.feed(chunk({"tool_calls": [{"index": 0, "id": "c1", "function": {"name": "w", "arguments": ""}}]}))
    events += writer.feed(chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"a":1}'}}]}))
    events += writer.feed(chunk({}, "tool_calls"))
    events += writer.end({"prompt_tokens": 12, "completion_tokens": 3})
    for event in events:
        assert_event(event["type"], event)
    kinds = [(e["type"], e.get("delta", {}).get("type") or e.get("content_block", {}).get("type")) for e in events]
    assert kinds == [
        ("message_start", None),
        ("ping", None),
        ("content_block_start", "thinking"),
        ("content_block_delta", "thinking_delta"),
        ("content_block_delta", "signature_delta"),
        ("content_block_stop", None),
        ("content_block_start", "text"),
        ("content_block_delta", "text_delta"),
        ("content_block_stop", None),
        ("content_block_start", "tool_use"),
        ("content_block_delta", "input_json_delta"),
        ("content_block_stop", None),
        ("message_delta", None),
        ("message_stop", None),
    ]
    assert [e["index"] for e in events if e["type"] == "content_block_start"] == [0, 1, 2]
    assert events[-2]["delta"]["stop_reason"] == "tool_use" and events[-2]["usage"]["output_tokens"] == 3


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, "invalid_request_error"),
        (401, "authentication_error"),
        (403, "permission_error"),
        (404, "not_found_error"),
        (413, "request_too_large"),
        (429, "rate_limit_error"),
        (500, "api_error"),
        (502, "api_error"),
        (503, "overloaded_error"),
        (504, "timeout_error"),
    ],
)
def test_errors_take_anthropics_type_for_their_status(status: int, kind: str) -> None:
    body = error_body(InvalidRequestError("no", status_code=status))
    assert body == {"type": "error", "error": {"type": kind, "message": "no"}}
