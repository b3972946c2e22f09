"""POST /v1/embeddings."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Request
from starlette.responses import Response

from llm_gateway.api.json_route import json_answer, read_json_request
from llm_gateway.api.services import EmbeddingsApi
from llm_gateway.core.context import RequestContext
from llm_gateway.core.deployments import ModelGroups
from llm_gateway.errors import InvalidRequestError

Endpoint = Callable[[Request], Awaitable[Response]]

EMBEDDINGS_OPENAPI = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CreateEmbeddingRequest"}}},
    },
    "responses": {
        "200": {
            "description": "A list of embedding objects (vectors as floats, or base64 of little-endian float32 "
            "when `encoding_format` is `base64`).",
            "content": {"application/json": {}},
        },
        "400": {"description": "Invalid request, or a model that does not serve embeddings (OpenAI error envelope)."},
        "401": {"description": "Missing or wrong API key."},
        "403": {"description": "The key may not use this model."},
        "404": {"description": "Unknown model."},
        "409": {"description": "A request with the same Idempotency-Key is still running (Retry-After)."},
        "413": {"description": "Body over the size limit."},
        "429": {"description": "Rate limited or over budget (by the gateway or the upstream)."},
        "502": {"description": "The upstream failed."},
        "503": {"description": "Every deployment of the model is cooling down (Retry-After)."},
        "504": {"description": "The upstream timed out."},
    },
}


def refuse_unless_served(groups: ModelGroups, model: str, ctx: RequestContext) -> None:
    """A 400 for a model group that exists (and the key may use) but serves no embeddings; an unknown or
    forbidden model is left to the pipeline, which answers 404 / 403 as it does for chat."""
    served = groups.endpoints(model)
    if served and "embeddings" not in served and ctx.principal.may_use(model):
        raise InvalidRequestError(
            f"The model '{model}' does not serve embeddings (it serves: {', '.join(served)}). Use a model whose "
            "deployments list 'embeddings' in their endpoints; GET /v1/models says which do.",
            param="model",
            code="model_not_supported",
        )


def embeddings_endpoint(services: Callable[[], EmbeddingsApi]) -> Endpoint:
    async def embeddings(request: Request) -> Response:
        from llm_gateway.schemas.embeddings import validate_embedding_request  # not at cold start

        api = services()
        ctx, data = await read_json_request(request, api.shared)
        embedding = validate_embedding_request(data)
        ctx.model_group = embedding.model
        refuse_unless_served(api.groups, embedding.model, ctx)
        return await json_answer(request, api.shared, ctx, api.service.embed(embedding, ctx))

    return embeddings


def routes(services: Callable[[], EmbeddingsApi]) -> APIRouter:
    """The router for ``/v1/embeddings`` (and ``/embeddings``)."""
    endpoint = embeddings_endpoint(services)
    router = APIRouter()
    router.add_api_route(
        "/v1/embeddings",
        endpoint,
        methods=["POST"],
        summary="Create embeddings",
        openapi_extra=EMBEDDINGS_OPENAPI,
        response_class=Response,
        tags=["embeddings"],
    )
    router.add_api_route("/embeddings", endpoint, methods=["POST"], include_in_schema=False, response_class=Response)
    return router
