"""Observability for the Lambda entry points: request ids from Lambda into the logs, Powertools when asked.

Under the Lambda Web Adapter the app is a plain HTTP server: API Gateway's request context arrives as the
``x-amzn-request-context`` header and Lambda's invocation context as ``x-amzn-lambda-context`` (both JSON).
Under Mangum they are the ``aws.event`` / ``aws.context`` entries of the ASGI scope. Either way,
:class:`LambdaContextMiddleware` binds the API Gateway request id as ``correlation_id`` (and Lambda's as
``function_request_id``) for every log line of the request, streamed ones included.

``LLM_GATEWAY_OBSERVABILITY=powertools`` (set by template.yaml) switches logs to Powertools' JSON format
(:mod:`llm_gateway.aws.powertools`); without it, and outside Lambda, nothing of Powertools is imported, so
local runs and tests pay nothing. EMF metrics (Powertools' ``Metrics``) are the gateway's to switch on
when it is built (``tenants.telemetry.metrics``: by default inside Lambda or with Powertools on).
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from llm_gateway.observability import log_context

OBSERVABILITY_ENV = "LLM_GATEWAY_OBSERVABILITY"
LOG_LEVEL_ENV = "LLM_GATEWAY_LOG_LEVEL"

_SAFE_ID = re.compile(r"^[A-Za-z0-9._:/=+\-]{1,128}$")
_REQUEST_CONTEXT_HEADER = b"x-amzn-request-context"
_LAMBDA_CONTEXT_HEADER = b"x-amzn-lambda-context"
_MAX_HEADER_BYTES = 64 * 1024

Scope = dict[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]]


def _json_object(raw: bytes | None) -> dict[str, Any]:
    if not raw or len(raw) > _MAX_HEADER_BYTES:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _safe(value: Any) -> str | None:
    return value if isinstance(value, str) and _SAFE_ID.match(value) else None


def lambda_request_ids(scope: Scope) -> dict[str, str]:
    """``correlation_id`` (API Gateway / Function URL request id) and ``function_request_id`` (Lambda's)."""
    headers: dict[bytes, bytes] = {}
    for name, value in scope.get("headers") or ():
        if name in (_REQUEST_CONTEXT_HEADER, _LAMBDA_CONTEXT_HEADER):
            headers[name] = value
    if not headers and "aws.event" not in scope and "aws.context" not in scope:
        return {}  # not invoked through Lambda (a local server, a test)
    request_context = _json_object(headers.get(_REQUEST_CONTEXT_HEADER))
    event = scope.get("aws.event")
    if not request_context and isinstance(event, dict) and isinstance(event.get("requestContext"), dict):
        request_context = event["requestContext"]
    lambda_context = _json_object(headers.get(_LAMBDA_CONTEXT_HEADER))
    function_request_id = lambda_context.get("request_id") or lambda_context.get("requestId")
    if function_request_id is None:
        function_request_id = getattr(scope.get("aws.context"), "aws_request_id", None)
    ids: dict[str, str] = {}
    correlation_id = _safe(request_context.get("requestId"))
    if correlation_id:
        ids["correlation_id"] = correlation_id
    function_request_id = _safe(function_request_id)
    if function_request_id:
        ids["function_request_id"] = function_request_id
    return ids


class LambdaContextMiddleware:
    """Binds the Lambda request ids to the log context for the whole request (pure ASGI: streams pass through)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Callable[[], Awaitable[Any]], send: Any) -> None:
        ids = lambda_request_ids(scope) if scope.get("type") == "http" else {}
        if not ids:
            await self.app(scope, receive, send)
            return
        token = log_context.set({**log_context.get(), **ids})
        try:
            await self.app(scope, receive, send)
        finally:
            log_context.reset(token)


def instrument_app(app: Any, env: Mapping[str, str]) -> None:
    """Add the request-id middleware and, when ``LLM_GATEWAY_OBSERVABILITY=powertools``, Powertools."""
    app.add_middleware(LambdaContextMiddleware)
    if (env.get(OBSERVABILITY_ENV) or "").strip().lower() == "powertools":
        from llm_gateway.aws.powertools import use_powertools_logs

        use_powertools_logs(env)
