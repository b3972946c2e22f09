"""Request validation: every OpenAI field accepted, bad input refused with a 400 naming the param."""

from __future__ import annotations

import json
from typing import Any

import pytest

from llm_gateway.errors import InvalidRequestError
from llm_gateway.schemas.validation import ChatRequest, parse_json_body, validate_chat_request
from tests.support.openai_schema import assert_request

USER = {"role": "user", "content": "hi"}

FULL_REQUEST: dict[str, Any] = {
    "model": "gpt-test",
    "messages": [
        {"role": "system", "content": "be brief", "name": "sys"},
        {"role": "developer", "content": [{"type": "text", "text": "dev rules"}]},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "look"},
                {"type": "image_url", "image_url": {"url": "https://example.com/a.png", "detail": "low"}},
                {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
                {"type": "file", "file": {"filename": "a.pdf", "file_data": "data:application/pdf;base64,JVBE"}},
                {"type": "video_url", "video_url": {"url": "https://example.com/v.mp4"}},
                {"type": "document", "source": {"type": "text", "data": "doc"}},
            ],
        },
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "result"},
        {"role": "assistant", "content": [{"type": "text", "text": "a"}, {"type": "refusal", "refusal": "no"}]},
        {"role": "assistant", "content": None, "function_call": {"name": "g", "arguments": "{}"}},
        {"role": "function", "name": "g", "content": "42"},
    ],
    "temperature": 0.2,
    "top_p": 0.9,
    "n": 2,
    "max_tokens": 100,
    "max_completion_tokens": 100,
    "stop": ["\n\n", "END"],
    "seed": 7,
    "presence_penalty": 0.5,
    "frequency_penalty": -0.5,
    "logit_bias": {"50256": -100},
    "logprobs": True,
    "top_logprobs": 3,
    "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}},
    "stream": True,
    "stream_options": {"include_usage": True},
    "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}, "strict": True}}],
    "tool_choice": {"type": "function", "function": {"name": "f"}},
    "parallel_tool_calls": False,
    "functions": [{"name": "g", "parameters": {"type": "object"}}],
    "function_call": {"name": "g"},
    "metadata": {"team": "a"},
    "user": "u-1",
    "reasoning_effort": "low",
    "service_tier": "auto",
    "store": False,
    "some_future_field": {"anything": [1, 2]},
    "guardrails": ["pii"],
    "caching": True,
    "cache": {"no-cache": False, "no-store": False, "ttl": 60, "s-maxage": 30, "namespace": "team-a"},
    "num_retries": 2,
    "fallbacks": ["other"],
    "context_window_fallback_dict": {"gpt-test": "gpt-big"},
}


def parse_chat_request(raw: bytes) -> ChatRequest:
    """The body as the chat route reads it: JSON first, then the request model."""
    return validate_chat_request(parse_json_body(raw))


def test_every_openai_field_and_extension_is_accepted() -> None:
    request = parse_chat_request(json.dumps(FULL_REQUEST).encode())
    assert request.stream and request.include_usage and request.n == 2
    upstream = request.upstream_body()
    for extension in ("guardrails", "caching", "cache", "num_retries", "fallbacks", "context_window_fallback_dict"):
        assert extension not in upstream
    assert upstream["some_future_field"] == {"anything": [1, 2]}
    assert upstream["messages"] == FULL_REQUEST["messages"]  # forwarded exactly as sent


def test_the_full_request_is_valid_per_openai_schema_too() -> None:
    """Minus the gateway's extensions and the part types OpenAI itself lacks (video_url, document)."""
    body = {
        k: v
        for k, v in FULL_REQUEST.items()
        if k not in ("guardrails", "caching", "cache", "num_retries", "fallbacks", "context_window_fallback_dict")
    }
    user = body["messages"][2]
    parts = [p for p in user["content"] if p["type"] not in ("video_url", "document")]
    body["messages"] = [*body["messages"][:2], {**user, "content": parts}, *body["messages"][3:]]
    assert_request(body)


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        ({"messages": [USER]}, "model", "missing_required_parameter"),
        ({"model": "m"}, "messages", "missing_required_parameter"),
        ({"model": "m", "messages": []}, "messages", "invalid_value"),
        ({"model": 5, "messages": [USER]}, "model", "invalid_type"),
        ({"model": "m", "messages": "hi"}, "messages", "invalid_type"),
        ({"model": "m", "messages": [{"role": "wizard", "content": "x"}]}, "messages[0].role", "invalid_value"),
        ({"model": "m", "messages": [{"content": "x"}]}, "messages[0].role", "invalid_value"),
        ({"model": "m", "messages": [{"role": "user", "content": 5}]}, "messages[0].content", "invalid_value"),
        ({"model": "m", "messages": [{"role": "user"}]}, "messages[0].content", "missing_required_parameter"),
        (
            {"model": "m", "messages": [{"role": "user", "content": [{"type": "pic"}]}]},
            "messages[0].content[0].type",
            "invalid_value",
        ),
        (
            {"model": "m", "messages": [{"role": "tool", "content": "x"}]},
            "messages[0].tool_call_id",
            "missing_required_parameter",
        ),
        ({"model": "m", "messages": [{"role": "assistant"}]}, "messages[0].content", "invalid_value"),
        ({"model": "m", "messages": [USER], "temperature": "0.5"}, "temperature", "invalid_type"),
        ({"model": "m", "messages": [USER], "temperature": 2.5}, "temperature", "invalid_value"),
        ({"model": "m", "messages": [USER], "n": 0}, "n", "invalid_value"),
        ({"model": "m", "messages": [USER], "stream": "yes"}, "stream", "invalid_type"),
        (
            {"model": "m", "messages": [USER], "stream_options": {"include_usage": True}},
            "stream_options",
            "invalid_value",
        ),
        ({"model": "m", "messages": [USER], "top_logprobs": 2}, "top_logprobs", "invalid_value"),
        ({"model": "m", "messages": [USER], "logit_bias": {"1": 500}}, "logit_bias.1", "invalid_value"),
        (
            {"model": "m", "messages": [USER], "tools": [{"type": "function"}]},
            "tools[0].function",
            "missing_required_parameter",
        ),
        ({"model": "m", "messages": [USER], "tool_choice": "sometimes"}, "tool_choice", "invalid_value"),
        (
            {"model": "m", "messages": [USER], "response_format": {"type": "xml"}},
            "response_format.type",
            "invalid_value",
        ),
        ({"model": "m", "messages": [USER], "cache": {"ttl": -1}}, "cache.ttl", "invalid_value"),
        ({"model": "m", "messages": [USER], "cache": {"forever": True}}, "cache.forever", "invalid_value"),
        ({"model": "m", "messages": [USER], "num_retries": 99}, "num_retries", "invalid_value"),
        ({"model": "m", "messages": [USER], "fallbacks": "other"}, "fallbacks", "invalid_type"),
        ({"model": "m", "messages": [USER], "guardrails": [1]}, "guardrails[0]", "invalid_type"),
    ],
)
def test_invalid_input_is_a_400_naming_the_param(body: dict[str, Any], param: str, code: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        parse_chat_request(json.dumps(body).encode())
    error = caught.value
    assert error.status_code == 400
    assert error.param == param, error.message
    assert error.code == code, error.message
    assert error.to_dict()["error"]["type"] == "invalid_request_error"


@pytest.mark.parametrize("raw", [b"", b"   ", b"{", b"nope", b'{"a":1}x', b"\xff\xfe"])
def test_unparseable_bodies_are_400(raw: bytes) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        parse_chat_request(raw)
    assert caught.value.code == "invalid_json"


@pytest.mark.parametrize("raw", [b"[]", b"1", b'"text"', b"null", b"true"])
def test_non_object_bodies_are_400(raw: bytes) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        parse_chat_request(raw)
    assert caught.value.code == "invalid_type"


def test_deep_nesting_is_refused_cleanly() -> None:
    deep = b'{"model":"m","messages":[{"role":"user","content":"x"}],"x":' + b"[" * 5000 + b"]" * 5000 + b"}"
    with pytest.raises(InvalidRequestError):
        parse_chat_request(deep)
