"""The mock provider: deterministic, OpenAI-shaped, tool-capable."""

from __future__ import annotations

import json
from typing import Any

from llm_gateway.providers.mock.answers import answer, example_for_schema


def body(**extra: Any) -> dict[str, Any]:
    return {"model": "mock-1", "messages": [{"role": "user", "content": "hello there"}], **extra}


def test_text_answer_is_deterministic() -> None:
    first, second = answer(body()), answer(body())
    assert first.choices[0].text == second.choices[0].text
    assert "hello there" in (first.choices[0].text or "")


def test_max_tokens_truncates_with_length() -> None:
    result = answer(body(max_tokens=2))
    assert len(result.choices[0].pieces) == 2 and result.choices[0].finish_reason == "length"


def test_stop_sequence_cuts() -> None:
    result = answer(body(stop=["mock"]))
    assert "mock" not in (result.choices[0].text or "") and result.choices[0].finish_reason == "stop"


def test_tools_produce_a_call_with_schema_arguments() -> None:
    tool = {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
                "required": ["city", "days"],
            },
        },
    }
    result = answer(body(tools=[tool]))
    call = result.choices[0].tool_calls[0]
    assert call.name == "get_weather" and result.choices[0].finish_reason == "tool_calls"
    assert json.loads(call.arguments) == {"city": "mock city", "days": 1}


def test_after_a_tool_result_the_model_answers_in_text() -> None:
    tool = {"type": "function", "function": {"name": "f"}}
    messages = [
        {"role": "user", "content": "x"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
        },
        {"role": "tool", "tool_call_id": "c", "content": "sunny"},
    ]
    result = answer({"model": "m", "messages": messages, "tools": [tool]})
    assert result.choices[0].finish_reason == "stop" and "sunny" in (result.choices[0].text or "")


def test_example_for_schema_handles_nesting_and_enums() -> None:
    schema = {
        "type": "object",
        "properties": {
            "tags": {"type": "array", "items": {"enum": ["a", "b"]}},
            "inner": {"anyOf": [{"type": "null"}, {"type": "number"}]},
        },
        "required": ["tags", "inner"],
        "additionalProperties": False,
    }
    assert example_for_schema(schema) == {"tags": ["a"], "inner": 1.5}
