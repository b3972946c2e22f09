"""Schemathesis against the app's own OpenAPI document (``/openapi.json``): generated requests, valid and
invalid, to every documented operation; no answer may be a server error or break the document's promises.
Bounded here; ``make fuzz`` runs more (``SCHEMATHESIS_EXAMPLES``)."""

from __future__ import annotations

import os

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks as st_checks

from llm_gateway.api.app import create_app
from tests.support.gateway import MASTER_KEY, make_gateway

EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "60"))

app = create_app(
    make_gateway(
        {
            "models": [{"name": "mock", "provider": "mock", "model": "mock-1"}],
            "server": {"request_timeout": 10},
        }
    )
)
schema = schemathesis.openapi.from_asgi("/openapi.json", app)


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_openapi_operations(case: schemathesis.Case) -> None:
    response = case.call(headers={"authorization": f"Bearer {MASTER_KEY}"})
    case.validate_response(response, checks=[st_checks.not_a_server_error])
    assert response.status_code < 500
    if response.status_code >= 400:
        body = response.json()
        if case.path.startswith("/v1/messages"):  # Anthropic's error shape
            assert body.get("type") == "error" and set(body["error"]) == {"type", "message"}, (
                response.status_code,
                body,
            )
        else:
            assert set(body["error"]) >= {"message", "type", "param", "code"}
