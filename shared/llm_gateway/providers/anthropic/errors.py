"""Anthropic errors (``{"type": "error", "error": {"type", "message"}, "request_id"}``) -> OpenAI's.

=====  ========================  ==================================================================
HTTP   Anthropic ``error.type``  What the client gets
=====  ========================  ==================================================================
400    invalid_request_error     400 invalid_request_error; prompt too long -> code
                                 ``context_length_exceeded`` (routing may fall back to a bigger model)
401    authentication_error      502 ``upstream_auth_error`` (the gateway's key; upstream text withheld)
403    permission_error          502 ``upstream_auth_error``
402    billing_error             502 ``upstream_billing_error`` (not retried)
404    not_found_error           404 ``model_not_found``
413    request_too_large         413 ``request_too_large``
429    rate_limit_error          429 ``rate_limit_exceeded`` with ``retry-after``
500    api_error                 502 ``upstream_error`` (retryable)
504    timeout_error             504 ``upstream_timeout`` (retryable)
529    overloaded_error          503 ``upstream_overloaded`` (retryable, ``retry-after`` when sent)
=====  ========================  ==================================================================

The same table serves ``error`` events inside a stream, which carry a type but no status.
"""

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

STATUS_OF_TYPE = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}


# Upstream statuses that are not the client's fault: (status for the client, code, what happened).
_OPERATOR_SIDE = {
    402: (502, "upstream_billing_error", "refused the request for billing reasons"),
    504: (504, "upstream_timeout", "timed out"),
    529: (503, "upstream_overloaded", "is overloaded; try again shortly"),
}

_CLIENT_SIDE_CODES = {404: "model_not_found", 413: "request_too_large", 429: "rate_limit_exceeded"}


def error_fields(body: bytes | dict[str, Any]) -> tuple[str | None, str | None]:
    """``(error.type, error.message)`` from an Anthropic error body or event payload."""
    data: Any = body
    if isinstance(body, bytes):
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            return None, None
    if not isinstance(data, dict):
        return None, None
    error = data.get("error")
    if isinstance(error, dict):
        kind, message = error.get("type"), error.get("message")
        return (kind if isinstance(kind, str) else None), (message if isinstance(message, str) else None)
    message = data.get("message")
    return None, message if isinstance(message, str) else None


def map_anthropic_error(
    call: ProviderCall,
    status: int,
    error_type: str | None,
    raw_message: str | None,
    retry_after: float | None = None,
) -> GatewayError:
    group = call.deployment.group
    message = scrub(raw_message, call.api_key) if raw_message else f"The upstream answered HTTP {status}."
    if status in (401, 403):
        return upstream_auth_error(group, status)
    if status in _OPERATOR_SIDE or status >= 500 or status < 400:
        client_status, server_code, what = _OPERATOR_SIDE.get(status, (502, "upstream_error", "failed (HTTP {status})"))
        return UpstreamStatusError(
            f"The upstream for model '{group}' {what.format(status=status)}: {message}",
            upstream_status=status,
            status_code=client_status,
            error_type="server_error" if client_status == 503 else None,
            code=server_code,
            retry_after=retry_after,
        )
    code = _CLIENT_SIDE_CODES.get(status)
    if status == 400 and looks_like_context_overflow(message):
        code = "context_length_exceeded"
    return UpstreamStatusError(
        message,
        upstream_status=status,
        status_code=status,
        error_type="rate_limit_error" if status == 429 else "invalid_request_error",
        code=code,
        param="messages" if code == "context_length_exceeded" else None,
        retry_after=retry_after,
    )


def map_http_error(call: ProviderCall, status: int, headers: Mapping[str, str], body: bytes) -> GatewayError:
    error_type, message = error_fields(body)
    return map_anthropic_error(call, status, error_type, message, parse_retry_after(headers))


def map_error_event(call: ProviderCall, payload: dict[str, Any]) -> GatewayError:
    """An ``event: error`` inside a 200 stream (e.g. overloaded mid-answer)."""
    error_type, message = error_fields(payload)
    status = STATUS_OF_TYPE.get(error_type or "", 500)
    return map_anthropic_error(call, status, error_type, message or "The upstream reported an error mid-stream.")
