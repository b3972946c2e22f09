"""POST /v1/responses, GET / DELETE /v1/responses/{id}, GET /v1/responses/{id}/input_items."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response, StreamingResponse

from llm_gateway.api.auth import bearer_token
from llm_gateway.api.context import new_context, plain_headers
from llm_gateway.api.json_route import json_answer, read_json_request
from llm_gateway.api.responses import json_response
from llm_gateway.api.routes.chat import CHAT_OPENAPI, SSE_HEADERS, logged
from llm_gateway.api.services import ResponsesApi
from llm_gateway.core.context import RequestContext
from llm_gateway.core.deployments import ModelGroups
from llm_gateway.errors import InvalidRequestError
from llm_gateway.observability import request_ended

Endpoint = Callable[[Request], Awaitable[Response]]

FORWARDED_HEADERS = ("openai-beta",)
"""Headers a native Responses upstream gets from the client (never its credentials)."""

RESPONSES_OPENAPI = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CreateResponse"}}},
    },
    "responses": {
        **CHAT_OPENAPI["responses"],
        "200": {
            "description": "A response object, or an SSE stream of Responses events (`response.created` ... "
            "`response.completed`) when `stream` is true.",
            "content": {"application/json": {}, "text/event-stream": {}},
        },
        "400": {"description": "Invalid request, or a feature the gateway cannot bridge (hosted tools...)."},
        "404": {"description": "Unknown model, or a previous_response_id that is not the caller's."},
    },
}


_ID = [{"name": "response_id", "in": "path", "required": True, "schema": {"type": "string"}}]
_LISTING = [
    {"name": "order", "in": "query", "required": False, "schema": {"type": "string", "enum": ["asc", "desc"]}},
    {"name": "after", "in": "query", "required": False, "schema": {"type": "string"}},
    {"name": "limit", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 1, "maximum": 100}},
]
_STORED_ERRORS = {
    "401": {"description": "Missing or wrong API key."},
    "404": {"description": "No such response of the caller's key."},
}
STORED_OPENAPI: dict[str, Any] = {"parameters": _ID, "responses": _STORED_ERRORS}
LISTING_OPENAPI: dict[str, Any] = {
    "parameters": [*_ID, *_LISTING],
    "responses": {**_STORED_ERRORS, "400": {"description": "Bad listing parameters."}},
}


def refuse_unless_served(groups: ModelGroups, model: str, ctx: RequestContext) -> None:
    served = groups.endpoints(model)
    if served and "responses" not in served and ctx.principal.may_use(model):
        raise InvalidRequestError(
            f"The model '{model}' does not serve the Responses API (it serves: {', '.join(served)}).",
            param="model",
            code="model_not_supported",
        )


def create_endpoint(services: Callable[[], ResponsesApi]) -> Endpoint:
    async def create_response(request: Request) -> Response:
        api = services()
        ctx, data = await read_json_request(request, api.shared)
        if isinstance(data, dict) and isinstance(data.get("model"), str):
            ctx.model_group = data["model"]
            refuse_unless_served(api.groups, data["model"], ctx)
        service = api.service()
        forwarded = {name: ctx.headers[name] for name in FORWARDED_HEADERS if name in ctx.headers}
        prepared = await service.prepare(data, ctx, forwarded)
        if prepared.parsed.stream:
            body = await service.stream(prepared, ctx)
            out = {"x-request-id": ctx.request_id, **SSE_HEADERS, **ctx.response_headers}
            return StreamingResponse(
                logged(body, ctx, api.shared.afterwards), media_type="text/event-stream", headers=out
            )
        return await json_answer(request, api.shared, ctx, service.create(prepared, ctx))

    return create_response


async def _caller(request: Request, api: ResponsesApi) -> RequestContext:
    headers = plain_headers(request.scope)
    ctx = new_context(request, api.shared, headers)
    request.state.ctx = ctx
    ctx.principal = await api.shared.authenticator.authenticate(bearer_token(headers))
    return ctx


def _answer(api: ResponsesApi, ctx: RequestContext, body: Any) -> Response:
    api.shared.afterwards.run(request_ended(ctx, 200))
    return json_response(body, headers={"x-request-id": ctx.request_id})


def stored_endpoints(services: Callable[[], ResponsesApi]) -> tuple[Endpoint, Endpoint, Endpoint]:
    async def get_response(request: Request) -> Response:
        api = services()
        ctx = await _caller(request, api)
        stored = await api.service().get(request.path_params["response_id"], ctx)
        return _answer(api, ctx, stored.response)

    async def delete_response(request: Request) -> Response:
        api = services()
        ctx = await _caller(request, api)
        return _answer(api, ctx, await api.service().delete(request.path_params["response_id"], ctx))

    async def input_items(request: Request) -> Response:
        from llm_gateway.responses.listing import list_items

        api = services()
        ctx = await _caller(request, api)
        stored = await api.service().get(request.path_params["response_id"], ctx)
        return _answer(api, ctx, list_items(stored.input_items, dict(request.query_params)))

    return get_response, delete_response, input_items


def routes(services: Callable[[], ResponsesApi]) -> APIRouter:
    """The router for ``/v1/responses`` (and ``/responses``) and its stored responses."""
    get, delete, items = stored_endpoints(services)
    table: list[tuple[str, str, Endpoint, str, dict[str, Any] | None]] = [
        ("/responses", "POST", create_endpoint(services), "Create a model response", RESPONSES_OPENAPI),
        ("/responses/{response_id}", "GET", get, "Get a stored model response", STORED_OPENAPI),
        ("/responses/{response_id}", "DELETE", delete, "Delete a stored model response", STORED_OPENAPI),
        ("/responses/{response_id}/input_items", "GET", items, "List a stored response's input items", LISTING_OPENAPI),
    ]
    router = APIRouter()
    for prefix, shown in (("/v1", True), ("", False)):
        for path, method, endpoint, summary, openapi in table:
            router.add_api_route(
                prefix + path,
                endpoint,
                methods=[method],
                summary=summary,
                openapi_extra=openapi,
                response_class=Response,
                tags=["responses"],
                include_in_schema=shown,
            )
    return router
