"""The one root for upstream errors: credentials in every form scrubbed, unknown codes made generic, and
every code a provider mapping can produce known to it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from llm_gateway.errors import UpstreamStatusError
from llm_gateway.providers.redact import KNOWN_CODES, sanitise, scrub

KEY = "sk-proj-Q9x2Lm7TzR4vK8pW1nB6cJ3hY5dF0aGeXw"
PROVIDERS = Path(__file__).resolve().parents[3] / "shared" / "llm_gateway" / "providers"


@pytest.mark.parametrize(
    "text",
    [
        KEY,
        f"Incorrect API key provided: {KEY[:6]}...{KEY[-4:]}.",
        f"Incorrect API key provided: {KEY[:8]}************************{KEY[-4:]}",
        f"Authorization: Bearer {KEY}",
        f"GET /v1beta/models?key={KEY}&alt=sse",
        f"a piece of it: {KEY[5:30]}",
        "x-api-key: sk-ant-api03-abcdefghijklmnop",
        "The security token AKIAIOSFODNN7EXAMPLE is invalid",
        "AKIAIO...MPLE was refused",
        "key AIzaSyA1b2C3d4E5f6G7h8I9j0KlMnOpQrStUvW is invalid",
        "session IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJH",
    ],
)
def test_every_form_of_a_credential_is_scrubbed(text: str) -> None:
    out = scrub(text, KEY)
    for piece in (KEY, KEY[:12], KEY[-12:], "AKIAIOSFODNN7EXAMPLE", "AKIAIO", "AIzaSyA1b2C3", "abcdefghijklmnop"):
        assert piece not in out, out
    assert "IQoJb3JpZ2luX2VjEJr" not in out


@pytest.mark.parametrize(
    "text",
    [
        "upstream says no",
        "The upstream for model 'gpt-test' failed (HTTP 500): The server had an error... try again.",
        "This model's maximum context length is 128000 tokens. However, your messages resulted in 130000 tokens.",
        "Invalid value for 'temperature': expected a number <= 2.",
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert scrub(text, KEY) == text


def test_sanitise_holds_every_field() -> None:
    error = UpstreamStatusError(
        f"no: {KEY}", upstream_status=400, status_code=400, code=KEY, param=KEY, error_type=KEY,
        headers={"x-echo": KEY},
    )  # fmt: skip
    sanitise(error, [KEY])
    assert KEY not in repr(error.to_dict()) + repr(error.headers) + str(error)
    assert (error.code, error.param, error.error_type) == ("upstream_invalid_request", None, "invalid_request_error")
    kept = sanitise(
        UpstreamStatusError(
            "too long", upstream_status=400, code="context_length_exceeded", param="messages[0].content"
        ),
        [KEY],
    )
    assert (kept.code, kept.param) == ("context_length_exceeded", "messages[0].content")
    server = sanitise(UpstreamStatusError("x", upstream_status=503, status_code=502, code="weird_thing"), [KEY])
    assert server.code == "upstream_error" and server.retryable


def test_every_code_a_provider_writes_is_known() -> None:
    written = set()
    for source in PROVIDERS.rglob("*.py"):
        written |= set(re.findall(r'code="([a-z_]+)"', source.read_text()))
        written |= set(re.findall(r'_Rule\(\s*\d+,\s*\d+,\s*"[a-z_]+",\s*"([a-z_]+)"', source.read_text()))
    assert written and written <= KNOWN_CODES, written - KNOWN_CODES
