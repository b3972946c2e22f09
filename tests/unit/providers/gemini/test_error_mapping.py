"""Gemini HTTP errors -> OpenAI-shaped gateway errors (tests/fixtures/gemini/errors/*.json)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llm_gateway.providers.gemini.errors import map_gemini_error, retry_delay
from tests.support.openai_schema import assert_error
from tests.unit.providers.gemini.helpers import API_KEY, fixtures, load, make_call


@pytest.mark.parametrize("path", fixtures("errors"), ids=lambda p: p.stem)
def test_recorded_error_maps(path: Path) -> None:
    case = load(path)
    body = case["body"]
    raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    call = make_call({"model": "gem", "messages": [{"role": "user", "content": "hi"}]})
    error = map_gemini_error(call, case["status"], case["headers"], raw)
    expect = case["expect"]
    assert error.status_code == expect["status"]
    assert error.code == expect["code"]
    if "type" in expect:
        assert error.error_type == expect["type"]
    assert getattr(error, "retryable", None) == expect["retryable"]
    assert error.retry_after == expect.get("retry_after")
    if "message_contains" in expect:
        assert expect["message_contains"] in error.message
    assert_error(error.to_dict())
    rendered = json.dumps(error.to_dict()) + json.dumps(error.response_headers())
    assert API_KEY not in rendered and "AIzaSy" not in rendered


@pytest.mark.parametrize(
    ("delay", "seconds"), [("26s", 26.0), ("0.5s", 0.5), ("1.250s", 1.25), ("soon", None), ("", None)]
)
def test_retry_info_delay(delay: str, seconds: float | None) -> None:
    assert retry_delay([{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay}]) == seconds
