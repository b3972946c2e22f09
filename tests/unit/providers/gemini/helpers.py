"""Build a Gemini ``ProviderCall`` the way the router does, and load the recorded fixtures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from llm_gateway.config import DeploymentConfig
from llm_gateway.providers.base import Deployment, ProviderCall
from llm_gateway.schemas.validation import validate_chat_request

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "gemini"
API_KEY = "AIzaSyTestKey-abcdefghijklmnopqrstuvw"


def make_call(body: dict[str, Any], config: dict[str, Any] | None = None, *, want_usage: bool = True) -> ProviderCall:
    entry = DeploymentConfig(
        **{"name": "gem", "provider": "gemini", "model": "gemini-2.5-flash", "api_key": API_KEY, **(config or {})}
    )
    request = validate_chat_request(body)
    upstream = request.upstream_body()
    upstream["model"] = entry.model
    deployment = Deployment(id="gem/gemini", group="gem", provider="gemini", model=entry.model, config=entry)
    return ProviderCall(deployment=deployment, request=request, body=upstream, api_key=API_KEY, want_usage=want_usage)


def fixtures(kind: str, suffix: str = ".json") -> list[Path]:
    return sorted((FIXTURES / kind).glob(f"*{suffix}"))


def load(path: Path) -> Any:
    return json.loads(path.read_text())
