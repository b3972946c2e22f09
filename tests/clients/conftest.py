"""One gateway over model-like fake upstreams of every provider, for the client-compatibility suite.

Deployments: ``claude`` (Anthropic), ``claude-bedrock`` (Claude on Bedrock, through the gateway's own
boto3 client over HTTP), ``gemini`` (Gemini 3, thought signatures enforced), ``gpt`` (an
OpenAI-compatible server). See :mod:`tests.support.model_fakes` for how the fakes answer.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support import fake_anthropic, fake_gemini
from tests.support.gateway import MASTER_KEY, running_gateway
from tests.support.model_fakes import AgentAnthropic, AgentBedrock, AgentGemini, AgentOpenAI
from tests.support.servers import UvicornThread

REASONING = ("claude", "claude-bedrock", "gemini")
EVERY_PROVIDER = ("gpt", "claude", "claude-bedrock", "gemini")


@pytest.fixture(scope="session")
def upstreams() -> Iterator[dict[str, Any]]:
    servers: dict[str, Any] = {
        "anthropic": AgentAnthropic(),
        "bedrock": AgentBedrock(),
        "gemini": AgentGemini(),
        "openai": AgentOpenAI(),
    }
    for server in servers.values():
        server.start()
    yield servers
    for server in servers.values():
        server.stop()


def clients_config(upstreams: dict[str, Any]) -> dict[str, Any]:
    return {
        "models": [
            {"name": "mock", "provider": "mock", "model": "mock-1"},
            {
                "name": "claude",
                "provider": "anthropic",
                "model": "claude-sonnet-4-5-20250929",
                "api_base": upstreams["anthropic"].base_url,
                "api_key": fake_anthropic.API_KEY,
            },
            {
                "name": "claude-bedrock",
                "provider": "bedrock",
                "model": "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
                "region": "us-east-1",
                "endpoint_url": upstreams["bedrock"].base_url,
            },
            {
                "name": "gemini",
                "provider": "gemini",
                "model": "gemini-3-pro-preview",
                "api_base": upstreams["gemini"].v1beta,
                "api_key": fake_gemini.API_KEY,
            },
            {
                "name": "gpt",
                "provider": "openai",
                "model": "gpt-4.1",
                "api_base": upstreams["openai"].v1,
                "api_key": "sk-upstream-secret-key-abcdef",
            },
        ]
    }


@pytest.fixture(scope="session")
def gateway(upstreams: dict[str, Any]) -> Iterator[UvicornThread]:
    with running_gateway(clients_config(upstreams)) as server:
        yield server


@pytest.fixture(scope="session")
def base_url(gateway: UvicornThread) -> str:
    return gateway.base_url + "/v1"


@pytest.fixture(scope="session")
def api_key() -> str:
    return MASTER_KEY
