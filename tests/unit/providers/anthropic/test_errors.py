"""Table-driven: recorded Anthropic error responses -> the OpenAI-shaped error the client sees."""

from __future__ import annotations

import json
from typing import Any

import pytest

from llm_gateway.errors import UpstreamError
from llm_gateway.providers.anthropic.errors import map_error_event, map_http_error
from tests.support.openai_schema import assert_error
from tests.unit.providers.anthropic.helpers import fixture, make_call

CASES = fixture("errors.json")
CALL = make_call({"model": "claude", "messages": [{"role": "user", "content": "hi"}]})


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_http_error_mapping(case: dict[str, Any]) -> None:
    body = case["body"] if isinstance(case["body"], str) else json.dumps(case["body"])
    error = map_http_error(CALL, case["status"], case.get("headers", {}), body.encode())
    expect = case["expect"]
    assert_error(error.to_dict())
    assert (error.status_code, error.error_type, error.code, error.param) == (
        expect["status"],
        expect["type"],
        expect["code"],
        expect["param"],
    )
    assert isinstance(error, UpstreamError)
    assert error.retryable is expect["retryable"]
    assert error.retry_after == expect.get("retry_after")
    if "retry_after" in expect:
        assert error.response_headers()["retry-after"] == str(expect["retry_after"])


def test_upstream_text_never_carries_the_key() -> None:
    key = CALL.api_key
    assert key is not None
    quoted = json.dumps({"type": "error", "error": {"type": "invalid_request_error", "message": f"bad key {key}"}})
    for status in (400, 401, 500):
        error = map_http_error(CALL, status, {}, quoted.encode())
        assert key not in error.message
        assert key[:12] not in json.dumps(error.to_dict())


@pytest.mark.parametrize(
    ("error_type", "status", "code"),
    [
        ("overloaded_error", 503, "upstream_overloaded"),
        ("rate_limit_error", 429, "rate_limit_exceeded"),
        ("api_error", 502, "upstream_error"),
        ("invalid_request_error", 400, "upstream_error"),
        ("some_new_error", 502, "upstream_error"),
    ],
)
def test_error_events_in_a_stream(error_type: str, status: int, code: str) -> None:
    error = map_error_event(CALL, {"type": "error", "error": {"type": error_type, "message": "it broke"}})
    assert (error.status_code, error.code) == (status, code)
    assert "it broke" in error.message
