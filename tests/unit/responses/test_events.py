"""Chat chunks to Responses stream events: reasoning, text and two interleaved tool calls give valid
events in the spec's order, and the final response holds what the deltas said."""

from __future__ import annotations

import json
from typing import Any

import pytest

from llm_gateway.errors import UpstreamConnectionError
from llm_gateway.responses.events import ResponseEvents
from llm_gateway.responses.output import Envelope, from_completion
from llm_gateway.responses.request import validate_create_response
from llm_gateway.responses.to_chat import chat_body
from tests.support.responses_schema import assert_events, assert_response


def _envelope(**request: Any) -> Envelope:
    parsed = validate_create_response({"model": "m", "input": "hi", **request})
    return Envelope(id="resp_1", created_at=1, request=parsed, store=True)


def _chunk(delta: dict[str, Any] | None = None, finish: str | None = None, usage: Any = None) -> dict[str, Any]:
    chunk: dict[str, Any] = {
        "choices": [{"index": 0, "delta": delta or {}, "finish_reason": finish}] if delta is not None or finish else []
    }
    if usage is not None:
        chunk["usage"] = usage
    return chunk


CHUNKS = [
    _chunk({"role": "assistant", "reasoning_content": "Think"}),
    _chunk({"reasoning_content": "ing."}),
    _chunk({"content": "Two "}),
    _chunk({"content": "calls."}),
    _chunk(
        {"tool_calls": [{"index": 0, "id": "call_a", "type": "function", "function": {"name": "a", "arguments": ""}}]}
    ),
    _chunk(
        {
            "tool_calls": [
                {"index": 1, "id": "call_b", "type": "function", "function": {"name": "b", "arguments": '{"y"'}}
            ]
        }
    ),
    _chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"x": 1}'}}]}),
    _chunk({"tool_calls": [{"index": 1, "function": {"arguments": ": 2}"}}]}),
    _chunk(finish="tool_calls"),
    _chunk(usage={"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}),
]


@pytest.mark.parametrize("summary", [None, "auto"])
def test_a_stream_of_reasoning_text_and_interleaved_calls(summary: str | None) -> None:
    events = ResponseEvents(_envelope(**({"reasoning": {"summary": summary}} if summary else {})), clock=lambda: 2.0)
    out = [*events.start(), *(e for chunk in CHUNKS for e in events.feed(chunk)), *events.end()]
    assert_events(out)
    final = assert_response(events.final)
    assert [item["type"] for item in final["output"]] == ["reasoning", "message", "function_call", "function_call"]
    reasoning = final["output"][0]["summary" if summary else "content"][0]["text"]
    assert reasoning == "Thinking." and final["output"][1]["content"][0]["text"] == "Two calls."
    calls = [(i["call_id"], i["name"], json.loads(i["arguments"])) for i in final["output"][2:]]
    assert calls == [("call_a", "a", {"x": 1}), ("call_b", "b", {"y": 2})]
    assert final["usage"]["total_tokens"] == 7 and final["status"] == "completed" and final["completed_at"] == 2
    done = [e["item"]["id"] for e in out if e["type"] == "response.output_item.done"]
    assert done == [item["id"] for item in final["output"]]


def test_a_failure_after_some_events() -> None:
    events = ResponseEvents(_envelope(), clock=lambda: 2.0)
    out = [*events.start(), *events.feed(_chunk({"content": "par"}))]
    out += events.fail(UpstreamConnectionError("cut", code="upstream_stream_cut"))
    assert_events(out)
    assert out[-2]["code"] == "upstream_stream_cut" and out[-1]["response"]["status"] == "failed"


def test_a_whole_completion_and_the_request_mapping() -> None:
    tools = [{"type": "function", "name": "a", "parameters": {"type": "object"}}]
    envelope = _envelope(tools=tools, tool_choice={"type": "function", "name": "a"}, max_output_tokens=5)
    completion = {
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "cut", "refusal": "no"}, "finish_reason": "length"}
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 5, "total_tokens": 6},
    }
    response = assert_response(from_completion(completion, envelope, 3))
    assert response["status"] == "incomplete" and response["incomplete_details"] == {"reason": "max_output_tokens"}
    assert [p["type"] for p in response["output"][0]["content"]] == ["output_text", "refusal"]
    conversation = [
        {"role": "user", "content": "q"},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Let me look."}]},
        {"type": "function_call", "call_id": "c1", "name": "a", "arguments": "{}"},
        {"type": "function_call", "call_id": "c2", "name": "a", "arguments": "{}"},
        {"type": "reasoning", "id": "rs_1", "summary": []},
        {"type": "function_call_output", "call_id": "c1", "output": "one"},
        {"type": "function_call_output", "call_id": "c2", "output": [{"type": "input_text", "text": "two"}]},
        {"type": "item_reference", "id": "msg_old"},
    ]
    known = {"msg_old": {"type": "message", "role": "user", "content": "again"}}
    body = chat_body(envelope.request, {"model": "m"}, conversation, known)
    assert body["messages"] == [
        {"role": "user", "content": "q"},
        {
            "role": "assistant",
            "content": "Let me look.",
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "a", "arguments": "{}"}},
                {"id": "c2", "type": "function", "function": {"name": "a", "arguments": "{}"}},
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "one"},
        {"role": "tool", "tool_call_id": "c2", "content": "two"},
        {"role": "user", "content": "again"},
    ]
    assert body["tool_choice"] == {"type": "function", "function": {"name": "a"}}
    assert body["max_completion_tokens"] == 5
