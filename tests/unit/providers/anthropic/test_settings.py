"""Deployment options and what a model id implies."""

from __future__ import annotations

from typing import Any

import pytest

from llm_gateway.config import DeploymentConfig
from llm_gateway.core.deployments import validate_deployments
from llm_gateway.providers.anthropic.settings import model_version, settings_for
from llm_gateway.providers.tool_ids import safe_tool_call_id


@pytest.mark.parametrize(
    ("model", "version"),
    [
        ("claude-sonnet-4-5-20250929", (4, 5)),
        ("claude-opus-4-20250514", (4, 0)),
        ("claude-opus-4-1", (4, 1)),
        ("claude-opus-4-6", (4, 6)),
        ("claude-3-7-sonnet-20250219", (3, 7)),
        ("claude-3-5-haiku-latest", (3, 5)),
        ("claude-3-haiku-20240307", (3, 0)),
        ("anthropic.claude-haiku-4-5-20251001-v1:0", (4, 5)),
        ("my-finetune", None),
    ],
)
def test_model_version(model: str, version: tuple[int, int] | None) -> None:
    assert model_version(model) == version


def deployment(**fields: Any) -> DeploymentConfig:
    return DeploymentConfig.model_validate({"name": "c", "provider": "anthropic", "model": "claude-opus-4-6", **fields})


def test_defaults_and_derived_capabilities() -> None:
    settings = settings_for(deployment())
    assert settings.messages_url == "https://api.anthropic.com/v1/messages"
    assert (settings.version, settings.default_max_tokens, settings.betas) == ("2023-06-01", 4096, ())
    assert (settings.structured_outputs, settings.reasoning, settings.exclusive_sampling) == (
        "native",
        "adaptive",
        True,
    )
    old = settings_for(deployment(model="claude-3-5-sonnet-20241022"))
    assert (old.structured_outputs, old.reasoning, old.exclusive_sampling) == ("tool", "budget", False)


def test_operator_overrides() -> None:
    settings = settings_for(
        deployment(
            api_base="https://proxy.internal/anthropic/",
            anthropic_version="2024-01-01",
            anthropic_beta=["files-api-2025-04-14", "a,b"],
            default_max_tokens=1000,
            structured_outputs="tool",
            reasoning="budget",
        )
    )
    assert settings.messages_url == "https://proxy.internal/anthropic/v1/messages"
    assert settings.betas == ("files-api-2025-04-14", "a", "b")
    assert (settings.version, settings.default_max_tokens) == ("2024-01-01", 1000)
    assert (settings.structured_outputs, settings.reasoning) == ("tool", "budget")


@pytest.mark.parametrize(
    ("fields", "complaint"),
    [
        ({"default_max_tokens": 0}, "default_max_tokens"),
        ({"default_max_tokens": "4096"}, "default_max_tokens"),
        ({"structured_outputs": "json"}, "structured_outputs"),
        ({"reasoning": "deep"}, "reasoning"),
        ({"anthropic_beta": [""]}, "anthropic_beta"),
        ({"api_base": "api.anthropic.com"}, "api_base"),
        ({"drop_params": "yes"}, "drop_params"),
        ({"headers": {"x-team": 7}}, "headers"),
    ],
)
def test_bad_options_fail_at_start_up(fields: dict[str, Any], complaint: str) -> None:
    problems = validate_deployments([deployment(**fields)])
    assert len(problems) == 1 and complaint in problems[0]


@pytest.mark.parametrize("raw", ["toolu_01A09q90qw90lq917835lq9", "call_abc-123", "x"])
def test_valid_tool_ids_pass_unchanged(raw: str) -> None:
    assert safe_tool_call_id(raw) == raw


def test_rewritten_tool_ids_are_stable_valid_and_distinct() -> None:
    ids = ["functions.get_weather:0", "functions.get_weather/0", "a" * 100, "", "::"]
    rewritten = [safe_tool_call_id(raw) for raw in ids]
    assert rewritten == [safe_tool_call_id(raw) for raw in ids]
    assert len(set(rewritten)) == len(ids)
    for value in rewritten:
        assert 0 < len(value) <= 64
        assert all(ch.isalnum() or ch in "_-" for ch in value)


def test_upstream_request_headers() -> None:
    from llm_gateway.config import ServerConfig
    from llm_gateway.providers.anthropic import AnthropicProvider
    from llm_gateway.providers.base import ProviderDeps
    from tests.unit.providers.anthropic.helpers import make_call

    deps = ProviderDeps(transport=None, secrets=None, server=ServerConfig())  # type: ignore[arg-type]
    provider = AnthropicProvider(deps)
    extra = {"anthropic_beta": "files-api-2025-04-14", "headers": {"X-Proxy-Team": "search"}}
    call = make_call({"model": "claude", "messages": [{"role": "user", "content": "hi"}]}, extra)
    request = provider.build_request(call)
    assert request.url == "https://api.anthropic.com/v1/messages"
    assert request.headers == {
        "x-proxy-team": "search",
        "anthropic-version": "2023-06-01",
        "x-api-key": "sk-ant-test-key-0123456789",
        "anthropic-beta": "files-api-2025-04-14",
    }
