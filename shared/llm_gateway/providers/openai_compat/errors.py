"""Map an OpenAI-compatible upstream's HTTP error to the gateway's error, without leaking credentials."""

from __future__ import annotations

import email.utils
import re
import time
from collections.abc import Mapping
from typing import Any

import orjson

from llm_gateway.errors import GatewayError, UpstreamStatusError
from llm_gateway.providers.base import ProviderCall

_KEY_LIKE = re.compile(r"\b(sk|pk|rk|ak|key)-[A-Za-z0-9_\-*]{6,}", re.IGNORECASE)


def scrub(text: str, secret: str | None) -> str:
    """Remove the deployment's key, and anything shaped like a key, from upstream text."""
    if secret:
        text = text.replace(secret, "***")
    return _KEY_LIKE.sub(lambda m: f"{m.group(1)}-***", text)


def parse_retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds to wait, from ``retry-after-ms``, or ``Retry-After`` as seconds or an HTTP date."""
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


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
        # The client's key was fine; the gateway's key for this upstream was not. Never echo upstream text:
        # it often quotes part of the key.
        return UpstreamStatusError(
            f"The upstream for model '{group}' rejected the gateway's credentials (HTTP {status}). "
            "The operator must fix the deployment's api_key.",
            upstream_status=status,
            status_code=502,
            code="upstream_auth_error",
        )
    if status >= 500 or status < 400:
        return UpstreamStatusError(
            f"The upstream for model '{group}' failed (HTTP {status}): {message}",
            upstream_status=status,
            status_code=502,
            code=code or "upstream_error",
            retry_after=retry_after,
        )
    if code is None and _looks_like_context_overflow(message):
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


def _looks_like_context_overflow(message: str) -> bool:
    lowered = message.lower()
    return "context length" in lowered or "context window" in lowered or "maximum context" in lowered
