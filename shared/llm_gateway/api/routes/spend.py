"""GET /v1/spend: spend per key and model. The master key sees any key (or all); a virtual key only itself."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Request
from starlette.responses import Response

from llm_gateway.api.auth import bearer_token
from llm_gateway.api.responses import json_response
from llm_gateway.api.services import SpendApi
from llm_gateway.errors import InvalidRequestError, PermissionDeniedError
from llm_gateway.tenants.aio import call_store
from llm_gateway.tenants.report import spend_report

SPEND_OPENAPI = {
    "parameters": [
        {"name": name, "in": "query", "required": False, "schema": {"type": "string"}, "description": text}
        for name, text in (
            ("key_id", "A key id (default: the caller's own key; the master key may ask for any, or omit it for all)"),
            ("period", "daily | weekly | monthly (default) | total: the current UTC period"),
            ("start", "First day, YYYY-MM-DD (instead of period)"),
            ("end", "Last day, YYYY-MM-DD (instead of period)"),
        )
    ]
}


def routes(services: Callable[[], SpendApi]) -> APIRouter:
    router = APIRouter()

    # Query parameters are read by hand: declaring them in the signature makes FastAPI build a validation
    # model at import, which costs cold start more than this whole route.
    @router.get(
        "/v1/spend",
        summary="Spend per key and model",
        tags=["spend"],
        response_class=Response,
        openapi_extra=SPEND_OPENAPI,
    )
    async def get_spend(request: Request) -> Response:
        query = request.query_params
        key_id, period, start, end = (query.get(name) or None for name in ("key_id", "period", "start", "end"))
        api = services()
        principal = await api.authenticator.authenticate(bearer_token(request.headers))
        if not principal.is_master:
            if key_id is not None and key_id != principal.key_id:
                raise PermissionDeniedError("A key can only read its own spend.", param="key_id")
            key_id = principal.key_id
        api.afterwards.flush()  # the bookkeeping of requests already answered, into the ledger
        try:
            report = await call_store(
                "spend store",
                spend_report(
                    api.spend,
                    [key_id] if key_id else None,
                    period=period,
                    start=start,
                    end=end,
                    now=api.clock(),
                    keys=api.keys,
                ),
                timeout=10.0,  # an admin report: one Query per key
            )
        except ValueError as exc:
            raise InvalidRequestError(f"Invalid spend query: {exc}.", code="invalid_value") from None
        report["key_id"] = key_id
        # read-your-writes: this instance's answered requests are in the sums, flushed or not; other
        # instances' reach the table within one flush interval
        report["freshness"] = {
            "unflushed_included": api.spend.pending_totals([key_id] if key_id else None),
            "other_instances_within_seconds": api.flush_interval,
        }
        return json_response(report)

    return router
