"""GET /v1/spend: spend per key and model. The master key sees any key (or all); a virtual key only itself."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from llm_gateway.api.auth import bearer_token
from llm_gateway.api.responses import json_response
from llm_gateway.errors import InvalidRequestError, PermissionDeniedError
from llm_gateway.gateway import Gateway
from llm_gateway.tenants.aio import call_store
from llm_gateway.tenants.report import spend_report

router = APIRouter()


@router.get("/v1/spend", summary="Spend per key and model", tags=["spend"], response_class=Response)
async def get_spend(
    request: Request,
    key_id: str | None = None,
    period: str | None = None,
    start: str | None = None,
    end: str | None = None,
) -> Response:
    gateway: Gateway = request.app.state.gateway.ensure_ready()
    principal = await gateway.authenticator.authenticate(bearer_token(request.headers))
    if not principal.is_master:
        if key_id is not None and key_id != principal.key_id:
            raise PermissionDeniedError("A key can only read its own spend.", param="key_id")
        key_id = principal.key_id
    services = gateway.tenants
    try:
        report = await call_store(
            "spend store",
            spend_report,
            services.spend,
            [key_id] if key_id else None,
            period=period,
            start=start,
            end=end,
            now=services.clock(),
            keys=services.keys,
        )
    except ValueError as exc:
        raise InvalidRequestError(f"Invalid spend query: {exc}.", code="invalid_value") from None
    report["key_id"] = key_id
    return json_response(report)
