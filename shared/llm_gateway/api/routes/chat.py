"""POST /v1/chat/completions."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from fastapi import APIRouter, Request
from starlette.responses import Response, StreamingResponse

from llm_gateway.api.disconnect import has_live_client, unless_client_leaves
from llm_gateway.api.json_route import json_answer, read_json_request
from llm_gateway.api.services import ChatApi
from llm_gateway.core.afterwards import Afterwards
from llm_gateway.core.context import RequestContext
from llm_gateway.observability import request_ended
from llm_gateway.schemas.validation import validate_chat_request

log = logging.getLogger("llm_gateway.api")
Endpoint = Callable[[Request], Awaitable[Response]]

SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}

CHAT_OPENAPI = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ChatCompletionRequest"}}},
    },
    "responses": {
        "200": {
            "description": "A chat.completion object, or an SSE stream of chat.completion.chunk objects "
            "ending in `data: [DONE]` when `stream` is true.",
            "content": {"application/json": {}, "text/event-stream": {}},
        },
        "400": {"description": "Invalid request (OpenAI error envelope)."},
        "401": {"description": "Missing or wrong API key."},
        "404": {"description": "Unknown model."},
        "409": {"description": "A request with the same Idempotency-Key is still running (Retry-After)."},
        "413": {"description": "Body over the size limit."},
        "422": {"description": "The Idempotency-Key was already used with a different body."},
        "429": {"description": "Rate limited (by the gateway or the upstream)."},
        "502": {"description": "The upstream failed."},
        "503": {"description": "Every deployment of the model is cooling down (Retry-After)."},
        "504": {"description": "The upstream timed out."},
    },
}


async def logged(body: AsyncIterator[bytes], ctx: RequestContext, afterwards: Afterwards) -> AsyncIterator[bytes]:
    try:
        async for piece in body:
            yield piece
    finally:
        afterwards.run(request_ended(ctx, 200))


def chat_endpoint(services: Callable[[], ChatApi]) -> Endpoint:
    async def chat_completions(request: Request) -> Response:
        api = services()
        ctx, data = await read_json_request(request, api)
        chat = validate_chat_request(data)
        ctx.model_group = chat.model
        if chat.stream:
            opening = api.service.stream(chat, ctx)
            # Until its first chunk a stream writes nothing, so nothing notices a client that leaves:
            # watched like a non-stream answer (from the first chunk on, Starlette watches it).
            watched = has_live_client(request.scope)
            body = await (unless_client_leaves(request.receive, opening) if watched else opening)
            out = {"x-request-id": ctx.request_id, **SSE_HEADERS, **ctx.response_headers}
            return StreamingResponse(logged(body, ctx, api.afterwards), media_type="text/event-stream", headers=out)
        return await json_answer(request, api, ctx, api.service.complete(chat, ctx))

    return chat_completions


def routes(services: Callable[[], ChatApi]) -> tuple[APIRouter, Endpoint]:
    """The router for ``/v1/chat/completions`` (and ``/chat/completions``), and its endpoint (the app also
    dispatches to it directly: :mod:`llm_gateway.api.direct`)."""
    endpoint = chat_endpoint(services)
    router = APIRouter()
    router.add_api_route(
        "/v1/chat/completions",
        endpoint,
        methods=["POST"],
        summary="Create a chat completion",
        openapi_extra=CHAT_OPENAPI,
        response_class=Response,
        tags=["chat"],
    )
    router.add_api_route(
        "/chat/completions", endpoint, methods=["POST"], include_in_schema=False, response_class=Response
    )
    return router, endpoint
