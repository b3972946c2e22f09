from __future__ import annotations

from pathlib import Path

import pytest

from llm_gateway.config import ConfigError, load_config, parse_config
from llm_gateway.core.deployments import ModelGroups, build_deployments, validate_deployments


def test_default_config_serves_the_mock_model() -> None:
    config = load_config(env={})
    assert [d.provider for d in config.models] == ["mock", "mock"]
    assert config.group_names() == ["mock", "mock-slow"]


def test_yaml_file_is_loaded(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "models:\n  - {name: a, provider: openai, model: m, api_base: 'http://x/v1', api_key: env:K}\n"
        "  - {name: a, provider: openai, model: m, weight: 3}\n"
    )
    config = load_config(env={"LLM_GATEWAY_CONFIG": str(path)})
    ids = [d.id for d in build_deployments(config)]
    assert ids == ["a/openai/m", "a/openai/m#2"]


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({}, "models"),
        ({"models": []}, "models"),
        ({"models": [{"name": "a", "provider": "openai"}]}, "model"),
        ({"models": [{"name": "a", "provider": "openai", "model": "m"}], "bogus": 1}, "bogus"),
        ({"models": [{"name": "a", "provider": "openai", "model": "m", "weight": 0}]}, "weight"),
    ],
)
def test_invalid_config_says_where(data: dict[str, object], fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        parse_config(data)


def test_unknown_provider_and_bad_provider_fields_are_reported() -> None:
    config = parse_config(
        {
            "models": [
                {"name": "a", "provider": "nope", "model": "m"},
                {"name": "b", "provider": "openai", "model": "m", "api_base": "ftp://x"},
            ]
        }
    )
    problems = validate_deployments(config.models)
    assert any("unknown provider 'nope'" in p for p in problems)
    assert any("api_base" in p for p in problems)


def test_missing_file_and_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "absent.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("models: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


def test_a_deployment_serves_the_bridged_apis_unless_it_names_its_own() -> None:
    config = parse_config(
        {
            "models": [
                {"name": "chat", "provider": "mock", "model": "m"},
                {"name": "embed", "provider": "mock", "model": "e", "endpoints": ["embeddings"]},
                {"name": "embed", "provider": "mock", "model": "e2", "endpoints": ["embeddings", "chat"]},
            ]
        }
    )
    groups = ModelGroups(build_deployments(config))
    assert groups.endpoints("chat") == ["chat", "responses", "messages"]
    assert groups.endpoints("embed") == ["chat", "embeddings"]
    assert groups.endpoints("nothing") == []


@pytest.mark.parametrize("endpoints", [[], ["completions"]])
def test_an_unknown_or_empty_endpoint_list_stops_start_up(endpoints: list[str]) -> None:
    with pytest.raises(ConfigError, match="endpoints"):
        parse_config({"models": [{"name": "m", "provider": "mock", "model": "m", "endpoints": endpoints}]})
