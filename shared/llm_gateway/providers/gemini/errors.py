"""Gemini errors (``{"error": {"code", "message", "status", "details"}}``) -> the gateway's OpenAI errors.

| Gemini                                   | client sees                                               |
|------------------------------------------|-----------------------------------------------------------|
| 400 INVALID_ARGUMENT                     | 400 invalid_request_error (message passed on)             |
|   ... input token count exceeds the max  | 400 ``context_length_exceeded`` (routing may fall back)   |
|   ... API_KEY_INVALID                    | 502 ``upstream_auth_error`` (operator must fix the key)   |
| 400 FAILED_PRECONDITION                  | 400 ``failed_precondition`` (billing / region)            |
| 401 UNAUTHENTICATED, 403 PERMISSION_DENIED | 502 ``upstream_auth_error``                             |
| 404 NOT_FOUND                            | 404 ``model_not_found``                                   |
| 429 RESOURCE_EXHAUSTED                   | 429 rate_limit_error, ``Retry-After`` from RetryInfo      |
| 500 INTERNAL, 499 CANCELLED, others ≥500 | 502 upstream_error                                        |
| 503 UNAVAILABLE                          | 503 ``upstream_overloaded``                               |
| 504 DEADLINE_EXCEEDED                    | 504 ``upstream_timeout``                                  |

The upstream's message is passed on with the deployment's key (and anything shaped like a Google key)
scrubbed; for credential errors it is not passed on at all.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import orjson

from llm_gateway.errors import GatewayError, UpstreamStatusError
from llm_gateway.providers.base import ProviderCall
from llm_gateway.providers.openai_compat.errors import parse_retry_after, scrub

_CONTEXT = re.compile(r"input token count.*exceeds|exceeds the maximum number of tokens|context (length|window)", re.I)
_STATUS_OF = {
    "INVALID_ARGUMENT": 400,
    "FAILED_PRECONDITION": 400,
    "OUT_OF_RANGE": 400,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "NOT_FOUND": 404,
    "RESOURCE_EXHAUSTED": 429,
    "CANCELLED": 499,
    "INTERNAL": 500,
    "UNAVAILABLE": 503,
    "DEADLINE_EXCEEDED": 504,
}


def error_fields(body: bytes) -> dict[str, Any]:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return {}
    if isinstance(data, list) and data and isinstance(data[0], dict):
        data = data[0]  # the non-SSE stream form wraps the error in an array
    error = data.get("error") if isinstance(data, dict) else None
    return error if isinstance(error, dict) else {}


def retry_delay(details: Any) -> float | None:
    """``RetryInfo.retryDelay`` ("26s", "1.5s") in seconds."""
    for detail in details if isinstance(details, list) else []:
        if isinstance(detail, dict) and str(detail.get("@type", "")).endswith("google.rpc.RetryInfo"):
            raw = str(detail.get("retryDelay", "")).strip().removesuffix("s")
            try:
                return max(0.0, float(raw))
            except ValueError:
                return None
    return None


def _reasons(details: Any) -> set[str]:
    return {
        str(d.get("reason"))
        for d in (details if isinstance(details, list) else [])
        if isinstance(d, dict) and d.get("reason")
    }


def map_gemini_error(call: ProviderCall, status: int, headers: Mapping[str, str], body: bytes) -> GatewayError:
    fields = error_fields(body)
    retry_after = retry_delay(fields.get("details"))
    if retry_after is None:
        retry_after = parse_retry_after(headers)
    return _mapped(call, status, fields, retry_after)


def error_from_payload(call: ProviderCall, payload: dict[str, Any], status: int | None) -> GatewayError:
    """An error object that arrived inside a 200 stream."""
    error = payload.get("error")
    fields: dict[str, Any] = error if isinstance(error, dict) else {"message": str(error)}
    code = fields.get("code")
    upstream = status or (code if isinstance(code, int) else None) or _STATUS_OF.get(str(fields.get("status")), 500)
    return _mapped(call, upstream, fields, retry_delay(fields.get("details")))


def _mapped(call: ProviderCall, status: int, fields: dict[str, Any], retry_after: float | None) -> GatewayError:
    group = call.deployment.group
    grpc = str(fields.get("status") or "")
    raw: str = fields["message"] if isinstance(fields.get("message"), str) else ""
    message = scrub(raw, call.api_key) if raw else f"The upstream answered HTTP {status}."
    reasons = _reasons(fields.get("details"))

    def upstream(text: str, client_status: int, code: str, error_type: str = "upstream_error") -> UpstreamStatusError:
        return UpstreamStatusError(
            text,
            upstream_status=status,
            status_code=client_status,
            code=code,
            error_type=error_type,
            retry_after=retry_after,
        )

    if status in (401, 403) or grpc in ("UNAUTHENTICATED", "PERMISSION_DENIED") or "API_KEY_INVALID" in reasons:
        return upstream(
            f"The upstream for model '{group}' rejected the gateway's credentials ({grpc or f'HTTP {status}'}). "
            "The operator must fix the deployment's api_key.",
            502,
            "upstream_auth_error",
        )
    if status == 429 or grpc == "RESOURCE_EXHAUSTED":
        return upstream(message, 429, "rate_limit_exceeded", "rate_limit_error")
    if status == 404 or grpc == "NOT_FOUND":
        return upstream(message, 404, "model_not_found", "invalid_request_error")
    if status == 503 or grpc == "UNAVAILABLE":
        return upstream(f"The upstream for model '{group}' is overloaded: {message}", 503, "upstream_overloaded")
    if status == 504 or grpc == "DEADLINE_EXCEEDED":
        return upstream(f"The upstream for model '{group}' timed out: {message}", 504, "upstream_timeout")
    if 400 <= status < 500 and status != 499:
        if _CONTEXT.search(raw):
            return upstream(message, 400, "context_length_exceeded", "invalid_request_error")
        code = "failed_precondition" if grpc == "FAILED_PRECONDITION" else "upstream_invalid_request"
        return upstream(message, 400 if status != 413 else 413, code, "invalid_request_error")
    return upstream(f"The upstream for model '{group}' failed (HTTP {status}): {message}", 502, "upstream_error")
