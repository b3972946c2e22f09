"""The ``request_limits:`` section: each limit refuses with a 400 naming the parameter; the nesting depth
is measured on the raw bytes, strings excluded."""

from __future__ import annotations

import json
from typing import Any

import pytest

from llm_gateway.config import ConfigError, parse_config
from llm_gateway.errors import InvalidRequestError
from llm_gateway.request_limits import RequestLimits, check_json_depth, check_request_limits, json_depth

USER = {"role": "user", "content": "hi"}
TOOL = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}


def base(**fields: Any) -> dict[str, Any]:
    return {"model": "m", "messages": [USER], **fields}


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        ("1", 0),
        ("[]", 1),
        ('{"a": [1, {"b": [[]]}]}', 5),
        ('{"a": "[[[[[[[[[["}', 1),
        ('{"a": "\\"[[[[", "b": [[]]}', 3),
        ("[" * 5000 + "]" * 5000, 5000),
        ('["\\\\", [[["x"]]]]', 4),
    ],
)
def test_json_depth(text: str, depth: int) -> None:
    assert json_depth(text.encode()) == depth


def test_depth_limit_refuses_before_parsing() -> None:
    check_json_depth(b"[" * 64 + b"]" * 64, 64)
    with pytest.raises(InvalidRequestError, match="nested too deeply"):
        check_json_depth(b"[" * 65 + b"]" * 65, 64)
    check_json_depth(json.dumps({"s": "[" * 1000}).encode(), 64)  # brackets in strings are text


LIMITS = RequestLimits(
    max_messages=3,
    max_content_parts=2,
    max_n=4,
    max_output_tokens=1000,
    max_stop_sequences=2,
    max_stop_sequence_chars=5,
    max_tools=2,
    max_tool_bytes=1024,
    max_string_chars=8,
    max_logit_bias_entries=2,
)


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"messages": [USER] * 4}, "messages"),
        ({"messages": [{"role": "user", "content": [{"type": "text", "text": "x"}] * 3}]}, "messages[0].content"),
        ({"n": 5}, "n"),
        ({"max_tokens": 1001}, "max_tokens"),
        ({"max_completion_tokens": 2**63}, "max_completion_tokens"),
        ({"stop": ["a", "b", "c"]}, "stop"),
        ({"stop": "toolong"}, "stop"),
        ({"tools": [TOOL] * 3}, "tools"),
        ({"functions": [TOOL["function"]] * 3}, "functions"),
        ({"tools": [{**TOOL, "function": {**TOOL["function"], "description": "x" * 2000}}]}, "tools[0]"),
        ({"user": "u" * 9}, "user"),
        ({"logit_bias": {"1": 1, "2": 1, "3": 1}}, "logit_bias"),
    ],
)
def test_each_limit_names_its_param(fields: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        check_request_limits(base(**fields), LIMITS)
    assert caught.value.param == param
    assert caught.value.status_code == 400
    assert "at most" in caught.value.message


@pytest.mark.parametrize(
    "fields",
    [
        {"messages": [USER] * 3, "n": 4, "max_tokens": 1000, "stop": ["a", "b"], "tools": [TOOL] * 2},
        {"n": True, "max_tokens": "9" * 30, "stop": 5, "tools": "x", "messages": "x"},  # wrong types: pydantic's
    ],
)
def test_within_limits_or_wrong_type_passes(fields: dict[str, Any]) -> None:
    check_request_limits(base(**fields), LIMITS)


def test_limits_section_in_config() -> None:
    config = parse_config(
        {"models": [{"name": "m", "provider": "mock", "model": "m"}], "request_limits": {"max_messages": 10}}
    )
    assert config.request_limits.max_messages == 10
    assert config.request_limits.max_json_depth == 64
    with pytest.raises(ConfigError, match="request_limits"):
        parse_config({"models": [{"name": "m", "provider": "mock", "model": "m"}], "request_limits": {"nope": 1}})
