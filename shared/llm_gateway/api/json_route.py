"""The steps every JSON ``POST`` route shares: read the request in, send the answer out."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from llm_gateway.api.auth import bearer_token
from llm_gateway.api.body import read_body
from llm_gateway.api.context import new_context, plain_headers
from llm_gateway.api.disconnect import unless_client_leaves
from llm_gateway.api.responses import json_response
from llm_gateway.api.services import ChatApi
from llm_gateway.core.context import RequestContext
from llm_gateway.observability import request_ended
from llm_gateway.request_limits import check_json_depth, check_request_limits
from llm_gateway.schemas.validation import parse_json_body


async def read_json_request(request: Request, api: ChatApi) -> tuple[RequestContext, Any]:
    """The request's context, its caller authenticated, and its JSON body within the request limits."""
    headers = plain_headers(request.scope)
    ctx = new_context(request, api, headers)
    request.state.ctx = ctx
    ctx.principal = await api.authenticator.authenticate(bearer_token(headers))
    raw = await read_body(request, api.server.max_body_bytes, headers)
    limits = api.request_limits
    check_json_depth(raw, limits.max_json_depth)
    data = parse_json_body(raw)
    check_request_limits(data, limits)
    return ctx, data


async def json_answer(request: Request, api: ChatApi, ctx: RequestContext, work: Awaitable[Any]) -> Response:
    """``work``'s answer as JSON with the pipeline's headers (the work cancelled if its client leaves)."""
    answer = await (unless_client_leaves(request.receive, work) if api.watches_disconnects else work)
    headers = {"x-request-id": ctx.request_id, **ctx.response_headers}
    api.afterwards.run(request_ended(ctx, 200))
    return json_response(answer, headers=headers)
