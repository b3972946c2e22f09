"""Helpers every provider's error mapping shares: scrubbing secrets out of upstream text (:mod:`.redact`), reading
``Retry-After``, the gateway's answer to rejected upstream credentials, and spotting context overflow.

Provider folders keep their own status/type tables and call these for the common parts.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping

from llm_gateway.errors import UpstreamStatusError
from llm_gateway.providers.redact import scrub

__all__ = ["looks_like_context_overflow", "parse_retry_after", "scrub", "upstream_auth_error"]

_CONTEXT_OVERFLOW = (
    "context length",
    "context window",
    "maximum context",
    "prompt is too long",
    "exceed context limit",
    "input is too long",
)


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


def upstream_auth_error(group: str, status: int) -> UpstreamStatusError:
    """The upstream refused the gateway's own credentials (HTTP 401/403).

    The client's key was fine, so this is a 502 ``upstream_auth_error`` for the operator to fix. The
    upstream's text is never echoed: it often quotes part of the key.
    """
    return UpstreamStatusError(
        f"The upstream for model '{group}' rejected the gateway's credentials (HTTP {status}). "
        "The operator must fix the deployment's api_key.",
        upstream_status=status,
        status_code=502,
        code="upstream_auth_error",
    )


def looks_like_context_overflow(message: str) -> bool:
    """True when an upstream's 400 text says the prompt does not fit the model's context window."""
    lowered = message.lower()
    return any(marker in lowered for marker in _CONTEXT_OVERFLOW)
