"""GET /v1/models and /v1/models/{id}: the model groups this caller may use."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from llm_gateway.api.auth import bearer_token
from llm_gateway.api.responses import json_response
from llm_gateway.core.context import Principal
from llm_gateway.errors import ModelNotFoundError
from llm_gateway.gateway import Gateway

router = APIRouter()


def _model_object(gateway: Gateway, name: str) -> dict[str, Any]:
    first = gateway.groups.get(name)[0]
    return {
        "id": name,
        "object": "model",
        "created": gateway.started_at,
        "owned_by": first.config.owned_by or first.provider,
    }


async def _principal(request: Request, gateway: Gateway) -> Principal:
    return await gateway.authenticator.authenticate(bearer_token(request.headers))


@router.get("/v1/models", summary="List models", response_class=Response, tags=["models"])
@router.get("/models", include_in_schema=False, response_class=Response)
async def list_models(request: Request) -> Response:
    gateway: Gateway = request.app.state.gateway.ensure_ready()
    principal = await _principal(request, gateway)
    data = [_model_object(gateway, name) for name in gateway.groups.names() if principal.may_use(name)]
    return json_response({"object": "list", "data": data})


@router.get("/v1/models/{model_id:path}", summary="Retrieve a model", response_class=Response, tags=["models"])
@router.get("/models/{model_id:path}", include_in_schema=False, response_class=Response)
async def get_model(model_id: str, request: Request) -> Response:
    gateway: Gateway = request.app.state.gateway.ensure_ready()
    principal = await _principal(request, gateway)
    if model_id not in gateway.groups or not principal.may_use(model_id):
        raise ModelNotFoundError(f"The model '{model_id}' does not exist or you do not have access to it.")
    return json_response(_model_object(gateway, model_id))
