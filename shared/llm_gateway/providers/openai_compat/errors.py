"""Map an OpenAI-compatible upstream's HTTP error to the gateway's error, without leaking credentials."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from llm_gateway.errors import GatewayError, UpstreamStatusError
from llm_gateway.providers.base import ProviderCall
from llm_gateway.providers.upstream_errors import (
    looks_like_context_overflow,
    parse_retry_after,
    scrub,
    upstream_auth_error,
)

__all__ = ["map_openai_error", "parse_retry_after", "scrub", "upstream_error_fields"]


def upstream_error_fields(body: bytes) -> dict[str, Any]:
    """The ``error`` object of an OpenAI-shaped error body, or ``{}``."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return {}
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict):
            return error
        if isinstance(error, str):
            return {"message": error}
        if isinstance(data.get("message"), str):
            return {"message": data["message"]}
    return {}


def map_openai_error(call: ProviderCall, status: int, headers: Mapping[str, str], body: bytes) -> GatewayError:
    group = call.deployment.group
    fields = upstream_error_fields(body)
    raw_message = fields.get("message") if isinstance(fields.get("message"), str) else None
    message = scrub(raw_message, call.api_key) if raw_message else f"The upstream answered HTTP {status}."
    retry_after = parse_retry_after(headers)
    code = fields.get("code") if isinstance(fields.get("code"), str) else None
    param = fields.get("param") if isinstance(fields.get("param"), str) else None
    error_type = fields.get("type") if isinstance(fields.get("type"), str) else None

    if status in (401, 403):
        return upstream_auth_error(group, status)
    if status >= 500 or status < 400:
        return UpstreamStatusError(
            f"The upstream for model '{group}' failed (HTTP {status}): {message}",
            upstream_status=status,
            status_code=502,
            code=code or "upstream_error",
            retry_after=retry_after,
        )
    if code is None and looks_like_context_overflow(message):
        code = "context_length_exceeded"
    return UpstreamStatusError(
        message,
        upstream_status=status,
        status_code=status,
        error_type=error_type or ("rate_limit_error" if status == 429 else "invalid_request_error"),
        code=code,
        param=param,
        retry_after=retry_after,
    )
