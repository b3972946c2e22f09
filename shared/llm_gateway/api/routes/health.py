"""GET /health: liveness for the Lambda Web Adapter's readiness check and load balancers. No auth, no I/O."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from llm_gateway import __version__
from llm_gateway.api.responses import json_response

router = APIRouter()


@router.get("/health", summary="Health check", response_class=Response, tags=["health"])
async def health() -> Response:
    return json_response({"status": "ok", "version": __version__})
