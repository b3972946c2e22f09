"""Each provider's deployment fields are a pydantic model that forbids unknown fields: a typo, or a field
the provider does not read, stops start-up with a message naming it."""

from __future__ import annotations

from typing import Any

import pytest

from llm_gateway.config import DeploymentConfig
from llm_gateway.core.deployments import validate_deployments
from llm_gateway.providers.bedrock.settings import BedrockSettings

BASE = {"name": "m", "model": "x"}


@pytest.mark.parametrize("provider", ["openai", "anthropic", "bedrock", "gemini", "mock"])
def test_an_unknown_field_is_named(provider: str) -> None:
    problems = validate_deployments([DeploymentConfig(**BASE, provider=provider, regoin="eu-west-1")])
    assert problems == [f"models[0] (m): regoin: not a field of the {provider} provider"]


@pytest.mark.parametrize("provider", ["openai", "anthropic", "bedrock", "gemini", "mock"])
def test_fields_every_deployment_may_carry(provider: str) -> None:
    entry: dict[str, Any] = {**BASE, "provider": provider, "drop_params": True, "context_window": 8000}
    assert validate_deployments([DeploymentConfig(**entry)]) == []


def test_a_wrongly_typed_value_is_named() -> None:
    problems = validate_deployments([DeploymentConfig(**BASE, provider="gemini", drop_params="yes")])
    assert problems and "drop_params" in problems[0]


def test_api_base_on_a_provider_without_one_is_refused() -> None:
    problems = validate_deployments([DeploymentConfig(**BASE, provider="mock", api_base="http://x")])
    assert problems == ["models[0] (m): api_base: the mock provider has no base URL to set; remove it"]


def test_api_base_is_bedrocks_endpoint() -> None:
    entry = DeploymentConfig(**BASE, provider="bedrock", api_base="https://vpce-1.bedrock-runtime.example.com")
    assert BedrockSettings.of(entry).endpoint_url == "https://vpce-1.bedrock-runtime.example.com"
    clash = DeploymentConfig(**BASE, provider="bedrock", api_base="https://a.example", endpoint_url="https://b.example")
    assert "different endpoints" in validate_deployments([clash])[0]
