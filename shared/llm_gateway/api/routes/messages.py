"""POST /v1/messages and /v1/messages/count_tokens: Anthropic's Messages API (see ``docs/messages.md``).

The messages package loads on the first request here, not at cold start. Every error is answered in
Anthropic's shape (``{"type": "error", "error": {...}}``), streams included."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from fastapi import APIRouter, Request
from starlette.responses import Response, StreamingResponse

from llm_gateway.api.context import plain_headers
from llm_gateway.api.json_route import json_answer, read_json_request
from llm_gateway.api.responses import json_response
from llm_gateway.api.routes.chat import SSE_HEADERS, logged
from llm_gateway.api.services import MessagesApi
from llm_gateway.errors import GatewayError, internal_error
from llm_gateway.observability import request_ended

if TYPE_CHECKING:
    from llm_gateway.messages.service import MessagesService

log = logging.getLogger("llm_gateway.api")
Endpoint = Callable[[Request], Awaitable[Response]]

_ERRORS = {
    "400": {"description": "Invalid request (Anthropic error shape: `{type: error, error: {type, message}}`)."},
    "401": {"description": "Missing or wrong API key (`x-api-key` or `Authorization: Bearer`)."},
    "403": {"description": "The key may not use this model."},
    "404": {"description": "Unknown model."},
    "413": {"description": "Body over the size limit."},
    "429": {"description": "Rate limited or over budget (by the gateway or the upstream)."},
    "502": {"description": "The upstream failed."},
    "503": {"description": "Every deployment of the model is cooling down (Retry-After)."},
    "504": {"description": "The upstream timed out."},
}
MESSAGES_OPENAPI = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/AnthropicMessagesRequest"}}},
    },
    "responses": {
        "200": {
            "description": "An Anthropic `message` object, or with `stream: true` an SSE stream of Anthropic events "
            "(`message_start` ... `message_stop`, `ping`, `error`).",
            "content": {"application/json": {}, "text/event-stream": {}},
        },
        **_ERRORS,
    },
}
COUNT_TOKENS_OPENAPI = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/AnthropicCountTokensRequest"}}},
    },
    "responses": {
        "200": {
            "description": "`{input_tokens}`: the upstream's own count, or (header `x-llm-gateway-token-count: "
            "estimate`) the gateway's estimate where the upstream has no count endpoint.",
            "content": {"application/json": {}},
        },
        **_ERRORS,
    },
}


def _service(api: MessagesApi) -> MessagesService:
    from llm_gateway.messages.service import MessagesService  # not at cold start

    return MessagesService(api.shared.service, api.groups, api.shared.server.stream_heartbeat_seconds)


def _error(request: Request, api: MessagesApi, error: GatewayError) -> Response:
    from llm_gateway.messages.errors import error_body

    ctx = getattr(request.state, "ctx", None)
    headers = error.response_headers()
    if ctx is not None:
        ctx.note("error_code", error.code)
        api.shared.afterwards.run(request_ended(ctx, error.status_code))
        headers["x-request-id"] = headers["request-id"] = ctx.request_id
    return json_response(error_body(error), status_code=error.status_code, headers=headers)


def guarded(
    services: Callable[[], MessagesApi], handle: Callable[[Request, MessagesApi], Awaitable[Response]]
) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        api = services()
        try:
            return await handle(request, api)
        except GatewayError as error:
            return _error(request, api, error)
        except Exception:
            log.exception("unhandled error on %s %s", request.method, request.url.path)
            return _error(request, api, internal_error())

    return endpoint


async def create_message(request: Request, api: MessagesApi) -> Response:
    ctx, data = await read_json_request(request, api.shared)
    service = _service(api)
    chat = service.request(data, plain_headers(request.scope))
    ctx.model_group = chat.model
    if chat.stream:
        body = await service.stream(chat, ctx)
        out = {"x-request-id": ctx.request_id, "request-id": ctx.request_id, **SSE_HEADERS, **ctx.response_headers}
        return StreamingResponse(logged(body, ctx, api.shared.afterwards), media_type="text/event-stream", headers=out)
    ctx.set_header("request-id", ctx.request_id)
    return await json_answer(request, api.shared, ctx, service.create(chat, ctx))


async def count_tokens(request: Request, api: MessagesApi) -> Response:
    from llm_gateway.messages.count import TokenCounter

    ctx, data = await read_json_request(request, api.shared)
    ctx.model_group = data.get("model") if isinstance(data, dict) and isinstance(data.get("model"), str) else None
    ctx.set_header("request-id", ctx.request_id)
    counter = TokenCounter(api.groups, api.router, api.providers)
    return await json_answer(request, api.shared, ctx, counter.count(data, plain_headers(request.scope), ctx))


def routes(services: Callable[[], MessagesApi]) -> APIRouter:
    router = APIRouter()
    router.add_api_route(
        "/v1/messages/count_tokens",
        guarded(services, count_tokens),
        methods=["POST"],
        summary="Count a message's input tokens (Anthropic Messages API)",
        openapi_extra=COUNT_TOKENS_OPENAPI,
        response_class=Response,
        tags=["messages"],
    )
    router.add_api_route(
        "/v1/messages",
        guarded(services, create_message),
        methods=["POST"],
        summary="Create a message (Anthropic Messages API)",
        openapi_extra=MESSAGES_OPENAPI,
        response_class=Response,
        tags=["messages"],
    )
    return router
