"""Build provider calls for the Anthropic mapping tests, and read the recorded fixtures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from llm_gateway.config import DeploymentConfig
from llm_gateway.providers.base import Deployment, ProviderCall
from llm_gateway.schemas.validation import validate_chat_request

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "anthropic"
DEFAULT_MODEL = "claude-sonnet-4-5-20250929"


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def make_call(
    body: dict[str, Any], deployment: dict[str, Any] | None = None, *, want_usage: bool = True
) -> ProviderCall:
    fields = {"name": "claude", "provider": "anthropic", "model": DEFAULT_MODEL, **(deployment or {})}
    config = DeploymentConfig.model_validate(fields)
    request = validate_chat_request(body)
    upstream = request.upstream_body()
    upstream["model"] = config.model
    return ProviderCall(
        deployment=Deployment(id="d1", group="claude", provider="anthropic", model=config.model, config=config),
        request=request,
        body=upstream,
        api_key="sk-ant-test-key-0123456789",
        want_usage=want_usage,
        request_id="req123",
    )
