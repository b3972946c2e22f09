"""Build the :class:`RequestContext` for an incoming HTTP request."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from starlette.requests import Request

from llm_gateway.api.services import ChatApi
from llm_gateway.core.context import Principal, RequestContext
from llm_gateway.ids import random_hex

_SAFE_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
ANONYMOUS = Principal(key_id="anonymous")


def plain_headers(scope: Mapping[str, Any]) -> dict[str, str]:
    """The request's headers as a plain dict, built once: names lower-case, and of a repeated name the
    first value, as ``starlette.datastructures.Headers.get`` gives it (without a scan per lookup)."""
    headers: dict[str, str] = {}
    for name, value in scope.get("headers") or ():
        headers.setdefault(name.decode("latin-1").lower(), value.decode("latin-1"))
    return headers


def request_id_for(request: Request, headers: Mapping[str, str] | None = None) -> str:
    given = (request.headers if headers is None else headers).get("x-request-id")
    if given and _SAFE_ID.match(given):
        return given
    return f"req_{random_hex()}"


LAMBDA_CONTEXT_HEADER = "x-amzn-lambda-context"


def lambda_seconds_left(
    request: Request, clock: Callable[[], float], headers: Mapping[str, str] | None = None
) -> float | None:
    """Seconds until the Lambda invocation's deadline, when running under Lambda.

    Under the Lambda Web Adapter the invocation context arrives as JSON in ``x-amzn-lambda-context``
    (``deadline``: epoch milliseconds); under Mangum the context object is in the ASGI scope. A client
    could send the header itself, but it can only shorten its own deadline (the configured request
    timeout still caps it).
    """
    raw = (request.headers if headers is None else headers).get(LAMBDA_CONTEXT_HEADER)
    if raw:
        try:
            deadline_ms = json.loads(raw).get("deadline")
        except (ValueError, AttributeError):
            deadline_ms = None
        if isinstance(deadline_ms, int | float) and not isinstance(deadline_ms, bool) and deadline_ms > 0:
            return float(deadline_ms) / 1000.0 - clock()
    context: Any = request.scope.get("aws.context")
    remaining_ms = getattr(context, "get_remaining_time_in_millis", None)
    if callable(remaining_ms):
        try:
            return float(remaining_ms()) / 1000.0
        except (TypeError, ValueError):
            return None
    return None


def new_context(request: Request, api: ChatApi, headers: Mapping[str, str] | None = None) -> RequestContext:
    """The request's context; ``headers``: the request's headers already read (:func:`plain_headers`)."""
    headers = request.headers if headers is None else headers
    monotonic = api.monotonic
    budget = api.server.request_timeout
    lambda_left = lambda_seconds_left(request, api.clock, headers)
    if lambda_left is not None:
        budget = max(0.0, min(budget, lambda_left - api.deadline_margin))
    return RequestContext(
        request_id=request_id_for(request, headers),
        principal=ANONYMOUS,
        deadline=monotonic() + budget,
        headers=headers,
        monotonic=monotonic,
    )
