"""Build the :class:`RequestContext` for an incoming HTTP request."""

from __future__ import annotations

import re
import uuid

from starlette.requests import Request

from llm_gateway.core.context import Principal, RequestContext
from llm_gateway.gateway import Gateway

_SAFE_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
ANONYMOUS = Principal(key_id="anonymous")


def request_id_for(request: Request) -> str:
    given = request.headers.get("x-request-id")
    if given and _SAFE_ID.match(given):
        return given
    return f"req_{uuid.uuid4().hex}"


def new_context(request: Request, gateway: Gateway) -> RequestContext:
    monotonic = gateway.options.monotonic
    return RequestContext(
        request_id=request_id_for(request),
        principal=ANONYMOUS,
        deadline=monotonic() + gateway.config.server.request_timeout,
        headers=request.headers,
        monotonic=monotonic,
    )
