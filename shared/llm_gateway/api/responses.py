"""Fast JSON responses and OpenAI-shaped error responses."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

from llm_gateway.errors import GatewayError


def json_response(payload: Any, status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(payload), status_code=status_code, headers=headers, media_type="application/json")


def error_response(error: GatewayError, request_id: str | None = None) -> Response:
    headers = error.response_headers()
    if request_id:
        headers["x-request-id"] = request_id
    return json_response(error.to_dict(), status_code=error.status_code, headers=headers)
