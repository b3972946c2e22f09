"""GET /v1/models and /v1/models/{id}: the model groups this caller may use."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from llm_gateway.api.auth import bearer_token
from llm_gateway.api.responses import json_response
from llm_gateway.api.services import ModelsApi
from llm_gateway.errors import ModelNotFoundError


def _model_object(api: ModelsApi, name: str) -> dict[str, Any]:
    first = api.groups.get(name)[0]
    return {
        "id": name,
        "object": "model",
        "created": api.created,
        "owned_by": first.config.owned_by or first.provider,
        "endpoints": api.groups.endpoints(name),  # the gateway's own field: which APIs serve this model
    }


def routes(services: Callable[[], ModelsApi]) -> APIRouter:
    router = APIRouter()

    @router.get("/v1/models", summary="List models", response_class=Response, tags=["models"])
    @router.get("/models", include_in_schema=False, response_class=Response)
    async def list_models(request: Request) -> Response:
        api = services()
        principal = await api.authenticator.authenticate(bearer_token(request.headers))
        names = [name for name in api.groups.names() if principal.may_use(name)]
        if "anthropic-version" in request.headers:  # an Anthropic SDK: its shape, the groups serving messages
            from llm_gateway.messages.models import model_list

            served = [name for name in names if "messages" in api.groups.endpoints(name)]
            return json_response(model_list(served, api.created, request.query_params))
        return json_response({"object": "list", "data": [_model_object(api, name) for name in names]})

    @router.get("/v1/models/{model_id:path}", summary="Retrieve a model", response_class=Response, tags=["models"])
    @router.get("/models/{model_id:path}", include_in_schema=False, response_class=Response)
    async def get_model(model_id: str, request: Request) -> Response:
        api = services()
        principal = await api.authenticator.authenticate(bearer_token(request.headers))
        if model_id not in api.groups or not principal.may_use(model_id):
            raise ModelNotFoundError(f"The model '{model_id}' does not exist or you do not have access to it.")
        if "anthropic-version" in request.headers:
            from llm_gateway.messages.models import model_info

            return json_response(model_info(model_id, api.created))
        return json_response(_model_object(api, model_id))

    return router
