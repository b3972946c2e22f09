"""The echo mode of the fake upstreams: an error that quotes back the credential the request carried, in
every field, the way real upstreams do (in ``message``, ``param``, ``code``, nested details), whole, masked,
as the ``Bearer`` header, as a ``key=`` query string and as an AWS access key id.

Every form is remembered as a secret (:func:`tests.support.log_scan.remember_secret`), so the session's
scans (responses, log records, DynamoDB items) fail if any of them comes out of the gateway.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from tests.support.log_scan import remember_secret

_AWS_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/")


def credential_of(headers: Mapping[str, str]) -> str:
    """The credential a request carried: a bearer token, an ``x-api-key``, an ``x-goog-api-key``, or the
    access key id of an AWS signature."""
    authorization = headers.get("authorization", "")
    if authorization.lower().startswith("bearer "):
        return authorization[7:].strip()
    signed = _AWS_CREDENTIAL.search(authorization)
    if signed:
        return signed.group(1)
    return headers.get("x-api-key") or headers.get("x-goog-api-key") or headers.get("api-key") or ""


def masked(key: str) -> str:
    """How upstreams show a key they refuse: ``sk-abc...wxyz``."""
    return f"{key[:6]}...{key[-4:]}"


def echo_forms(key: str) -> list[str]:
    """The forms of ``key`` an echo puts in an error (each is remembered as a secret)."""
    forms = [key, masked(key), f"Bearer {key}", f"?key={key}", f"Credential={key}/20261202/us-east-1/bedrock"]
    for form in forms[:2]:
        remember_secret(form)
    return forms


def echo_message(key: str) -> str:
    forms = echo_forms(key)
    return (
        f"Incorrect API key provided: {forms[1]}. The request sent 'Authorization: {forms[2]}' to "
        f"https://upstream.example/v1/models{forms[3]} ({forms[4]}); key: {key}."
    )


def echo_openai_error(key: str) -> dict[str, Any]:
    """An OpenAI-shaped error object with ``key`` in every field."""
    return {
        "message": echo_message(key),
        "type": key,
        "param": key,
        "code": key,
        "details": [{"reason": key, "metadata": {"api_key": key, "masked": masked(key)}}],
    }


def echo_anthropic_error(key: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": key, "message": echo_message(key), "details": {"key": key}}}


def echo_google_error(status: int, grpc: str, key: str) -> dict[str, Any]:
    return {
        "error": {
            "code": status,
            "message": echo_message(key),
            "status": grpc,
            "details": [
                {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": key, "metadata": {"key": key}},
                {"@type": "type.googleapis.com/google.rpc.BadRequest", "fieldViolations": [{"field": key}]},
            ],
        }
    }
