"""No credential leaves an upstream error: the one root every provider's failure passes through.

Upstreams echo the credential they were sent, and not only in ``message``: in ``code``, ``param``,
``type`` and nested details, in full, masked (``sk-abc...wxyz``), as the ``Bearer`` header, as a
``key=`` query string, or as an AWS access key id. Provider mappings read what they need from an error
body; whatever they build, :func:`sanitise` then holds the gateway error to what may leave:

- ``message``: :func:`scrub`\\ bed of the call's credentials in every form and of anything shaped like a
  credential;
- ``code``: one the gateway knows (its own, or one of OpenAI's documented codes), else a generic one
  for the status (``upstream_error``, ``upstream_invalid_request``, ``rate_limit_exceeded``);
- ``type``: one of OpenAI's error types, else the status's;
- ``param``: a request field path (``messages[0].content``) that carries no credential, else none;
- headers the error carries: scrubbed.

:class:`~llm_gateway.core.attempts.ProviderAttempts` applies it to every failure of every provider
(complete, stream, before and during, embeddings), before the router notes, logs, cools down or answers
anything, so the access log (``route``, ``error_code``), the state table (``cooldown_reason``) and the
client only ever see the sanitised error.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from llm_gateway.errors import GatewayError

if TYPE_CHECKING:
    from llm_gateway.providers.base import ProviderCall

MASK = "***"

_SHAPES: tuple[tuple[re.Pattern[str], str], ...] = (
    # an Authorization header, a header or query parameter naming a key, as upstreams quote them back
    (re.compile(r"\b(bearer)\s+[A-Za-z0-9._~+/=\-]{12,}", re.IGNORECASE), r"\1 ***"),
    (
        re.compile(
            r"\b((?:x-)?(?:goog-)?api[-_]?key|authorization|x-amz-security-token|access[-_]?token)"
            r"(\"?\s*[:=]\s*\"?)[^\s\"',;&*]{8,}",
            re.IGNORECASE,
        ),
        r"\1\2***",
    ),
    (re.compile(r"([?&](?:key|api_key|access_token|token|sig|signature)=)[^&\s\"']+", re.IGNORECASE), r"\1***"),
    # shapes of keys: OpenAI / Anthropic style, Google API keys, AWS access key ids, STS session tokens, JWTs
    (re.compile(r"\b(sk|pk|rk|ak|key)-[A-Za-z0-9_\-*.\u2026]{6,}", re.IGNORECASE), r"\1-***"),
    (re.compile(r"AIza[0-9A-Za-z_\-*.\u2026]{6,}"), "AIza***"),
    (re.compile(r"\b(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|AROA|APKA|ASCA)[A-Z0-9]{16}\b"), "****"),
    (re.compile(r"\b(?:IQoJb3JpZ2lu|FwoGZXIvYXdz)[A-Za-z0-9+/=]{16,}"), MASK),
    (re.compile(r"\beyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]*"), MASK),
    (re.compile(r"\b\d{12}\b"), "************"),  # AWS account ids
)
_TOKEN = re.compile(r"[^\s\"'`,;()<>\[\]{}]+")
_MASKED = re.compile(r"([A-Za-z0-9_\-]*)(?:\.{2,}|\u2026|\*{2,})([A-Za-z0-9_\-]*)")
_KEY_PREFIXES = ("sk-", "pk-", "rk-", "ak-", "key-", "AIza", "AKIA", "ASIA", "eyJ", "Bearer")
"""How keys begin: a masked token starting so is a key, whoever's it is."""
_FRAGMENT = 10
"""A token holding this many consecutive characters of a credential is part of it."""
_MIN_SECRET = 8


def call_secrets(call: ProviderCall) -> tuple[str, ...]:
    """What the call sent that is a credential: its API key, and the values of its extra headers."""
    found = [call.api_key] if call.api_key else []
    headers = call.deployment.config.extra_fields.get("headers")
    if isinstance(headers, dict):
        found += [str(value) for value in headers.values()]
    return tuple(s for s in found if len(s) >= _MIN_SECRET)


def scrub(text: str, *secrets: str | None) -> str:
    """``text`` without the ``secrets`` (whole, masked or in fragments) or anything shaped like a credential."""
    known = [s for s in secrets if s and len(s) >= _MIN_SECRET]
    for secret in sorted(known, key=len, reverse=True):
        text = text.replace(secret, MASK)
    text = _TOKEN.sub(lambda m: MASK if _holds_part(m.group(), known) else m.group(), text)
    for pattern, replacement in _SHAPES:
        text = pattern.sub(replacement, text)
    return text


def _holds_part(token: str, secrets: Sequence[str]) -> bool:
    """A token that is a credential masked (``sk-abc...wxyz``) or cut, or that holds a long piece of one."""
    masked = _MASKED.fullmatch(token.strip(".:"))
    if masked is not None:
        head, tail = masked.groups()
        if head.startswith(_KEY_PREFIXES) and len(head) > 3:
            return True
        if any((len(head) >= 3 and s.startswith(head)) or (len(tail) >= 3 and s.endswith(tail)) for s in secrets):
            return True
    if len(token) < _FRAGMENT or not secrets:
        return False
    return any(token[i : i + _FRAGMENT] in s for s in secrets for i in range(len(token) - _FRAGMENT + 1))


# -- what a sanitised error may carry --------------------------------------------------------------

GATEWAY_CODES = frozenset(
    {
        "client_disconnected",
        "content_policy_violation",
        "context_length_exceeded",
        "failed_precondition",
        "insufficient_quota",
        "invalid_file",
        "invalid_file_data",
        "invalid_image",
        "invalid_image_url",
        "invalid_request",
        "invalid_tool_arguments",
        "invalid_type",
        "invalid_value",
        "media_fetch_disabled",
        "media_fetch_failed",
        "media_fetch_timeout",
        "media_too_large",
        "media_too_many_redirects",
        "media_type_not_allowed",
        "media_url_refused",
        "model_not_found",
        "model_not_supported",
        "rate_limit_exceeded",
        "request_too_large",
        "service_unavailable",
        "string_above_max_length",
        "unsupported_content",
        "unsupported_parameter",
        "upstream_auth_error",
        "upstream_bad_response",
        "upstream_bad_tool_call",
        "upstream_billing_error",
        "upstream_connection_error",
        "upstream_credentials_unavailable",
        "upstream_error",
        "upstream_invalid_request",
        "upstream_overloaded",
        "upstream_response_too_large",
        "upstream_stream_cut",
        "upstream_timeout",
    }
)
"""Codes the gateway's provider mappings produce."""

OPENAI_CODES = frozenset(
    {
        "array_above_max_length",
        "array_below_min_length",
        "content_filter",
        "decimal_above_max_value",
        "decimal_below_min_value",
        "empty_array",
        "image_too_large",
        "integer_above_max_value",
        "integer_below_min_value",
        "invalid_image_format",
        "invalid_prompt",
        "missing_required_parameter",
        "server_error",
        "string_below_min_length",
        "unknown_parameter",
        "unsupported_value",
    }
)
"""Codes OpenAI documents for its errors, which an OpenAI-compatible upstream passes on."""

KNOWN_CODES = GATEWAY_CODES | OPENAI_CODES

ERROR_TYPES = frozenset(
    {
        "invalid_request_error",
        "authentication_error",
        "permission_error",
        "not_found_error",
        "rate_limit_error",
        "insufficient_quota",
        "server_error",
        "upstream_error",
    }
)
_PARAM = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.?\[\d{1,6}\]|\.[A-Za-z_][A-Za-z0-9_]*){0,12}")


def generic_code(status: int) -> str:
    if status == 429:
        return "rate_limit_exceeded"
    return "upstream_invalid_request" if 400 <= status < 500 else "upstream_error"


def generic_type(status: int) -> str:
    if status == 429:
        return "rate_limit_error"
    return "invalid_request_error" if 400 <= status < 500 else "upstream_error"


def safe_param(param: str | None, secrets: Iterable[str]) -> str | None:
    """A request field path that carries no credential, else ``None``."""
    if param is None or len(param) > 128 or not _PARAM.fullmatch(param):
        return None
    return param if scrub(param, *secrets) == param else None


def sanitise(error: GatewayError, secrets: Sequence[str]) -> GatewayError:
    """Hold ``error`` (in place, its class kept) to what may reach a client, a log line or a table."""
    status = error.status_code
    error.message = scrub(error.message, *secrets)
    error.args = (error.message,)
    if error.code is not None and error.code not in KNOWN_CODES:
        error.code = generic_code(status)
    if error.error_type not in ERROR_TYPES:
        error.error_type = generic_type(status)
    error.param = safe_param(error.param, secrets)
    error.headers = {name: scrub(value, *secrets) for name, value in error.headers.items()}
    return error
