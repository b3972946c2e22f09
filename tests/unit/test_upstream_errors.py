"""How OpenAI-compatible upstream errors become gateway errors."""

from __future__ import annotations

import json

from llm_gateway.config import parse_config
from llm_gateway.core.deployments import build_deployments
from llm_gateway.providers.base import ProviderCall
from llm_gateway.providers.openai_compat.errors import map_openai_error, parse_retry_after
from llm_gateway.schemas.validation import ChatRequest, parse_json_body, validate_chat_request

SECRET = "sk-upstream-secret-0123456789abcdef"


def parse_chat_request(raw: bytes) -> ChatRequest:
    """The body as the chat route reads it: JSON first, then the request model."""
    return validate_chat_request(parse_json_body(raw))


def call() -> ProviderCall:
    config = parse_config({"models": [{"name": "g", "provider": "openai", "model": "m", "api_key": SECRET}]})
    request = parse_chat_request(b'{"model":"g","messages":[{"role":"user","content":"x"}]}')
    return ProviderCall(deployment=build_deployments(config)[0], request=request, body={}, api_key=SECRET)


def body(message: str, **fields: object) -> bytes:
    return json.dumps({"error": {"message": message, "type": "invalid_request_error", **fields}}).encode()


def test_4xx_is_passed_on_with_param_and_code() -> None:
    error = map_openai_error(call(), 400, {}, body("bad temp", param="temperature", code="invalid_value"))
    assert (error.status_code, error.param, error.code, error.message) == (
        400,
        "temperature",
        "invalid_value",
        "bad temp",
    )


def test_429_keeps_retry_after() -> None:
    error = map_openai_error(call(), 429, {"retry-after": "7"}, body("slow down"))
    assert error.status_code == 429 and error.retry_after == 7 and error.response_headers()["retry-after"] == "7"


def test_5xx_becomes_502_and_upstream_auth_never_leaks_the_key() -> None:
    assert map_openai_error(call(), 503, {}, b"oops").status_code == 502
    error = map_openai_error(call(), 401, {}, body(f"Incorrect API key provided: {SECRET}"))
    assert error.status_code == 502 and error.code == "upstream_auth_error"
    assert SECRET not in json.dumps(error.to_dict())
    leaky = map_openai_error(call(), 400, {}, body(f"key {SECRET} and sk-other1234567890 were bad"))
    assert SECRET not in leaky.message and "sk-other1234567890" not in leaky.message


def test_context_overflow_is_recognised() -> None:
    error = map_openai_error(call(), 400, {}, body("This model's maximum context length is 8192 tokens"))
    assert error.code == "context_length_exceeded"


def test_retry_after_forms() -> None:
    assert parse_retry_after({"retry-after-ms": "1500"}) == 1.5
    assert parse_retry_after({"retry-after": "3"}) == 3
    assert parse_retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:10 GMT"}, now=1445412480.0) == 10
    assert parse_retry_after({"retry-after": "soon"}) is None
