"""The adapter against botocore's own Stubber: exact Converse parameters in, a recorded response out."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from llm_gateway.config import ServerConfig
from llm_gateway.providers.base import ProviderDeps
from llm_gateway.providers.bedrock import BedrockProvider
from tests.support.fake_bedrock import CLAUDE, FakeBedrock, load_fixture, provider_call
from tests.support.openai_schema import assert_completion

PNG = b"\x89PNG\r\n\x1a\n" + b"\x01" * 16


def provider_with(client: Any) -> BedrockProvider:
    deps = ProviderDeps(
        transport=None,  # type: ignore[arg-type]
        secrets=None,  # type: ignore[arg-type]
        server=ServerConfig(),
        clock=lambda: 1_750_000_000.0,
        aws_clients=lambda service, **_: client,
    )
    return BedrockProvider(deps)


async def test_converse_called_with_exact_parameters() -> None:
    from botocore.stub import Stubber

    client = FakeBedrock().client
    response = {k: v for k, v in load_fixture("converse_tool_use.json").items() if k != "ResponseMetadata"}
    expected = {
        "modelId": CLAUDE,
        "system": [{"text": "You are terse."}],
        "messages": [
            {
                "role": "user",
                "content": [{"text": "Weather here?"}, {"image": {"format": "png", "source": {"bytes": PNG}}}],
            }
        ],
        "inferenceConfig": {"maxTokens": 256, "stopSequences": ["###"]},
        "toolConfig": {
            "tools": [
                {
                    "toolSpec": {
                        "name": "get_weather",
                        "description": "Current weather",
                        "inputSchema": {"json": {"type": "object", "properties": {"city": {"type": "string"}}}},
                    }
                }
            ],
            "toolChoice": {"auto": {}},
        },
    }
    body = {
        "messages": [
            {"role": "system", "content": "You are terse."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Weather here?"},
                    {
                        "type": "image_url",
                        "image_url": {"url": "data:image/png;base64," + base64.b64encode(PNG).decode()},
                    },
                ],
            },
        ],
        "max_tokens": 256,
        "stop": "###",
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "get_weather",
                    "description": "Current weather",
                    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
                },
            }
        ],
        "tool_choice": "auto",
    }
    provider = provider_with(client)
    with Stubber(client) as stubber:
        stubber.add_response("converse", response, expected)
        result = await provider.complete(provider_call(body))
        stubber.assert_no_pending_responses()
    await provider.aclose()
    assert_completion(result)
    assert result["created"] == 1_750_000_000
    assert result["choices"][0]["finish_reason"] == "tool_calls"
    assert [c["function"]["name"] for c in result["choices"][0]["message"]["tool_calls"]] == ["get_weather", "get_time"]


async def test_stubbed_client_error_is_mapped() -> None:
    from botocore.stub import Stubber

    client = FakeBedrock().client
    provider = provider_with(client)
    with Stubber(client) as stubber:
        stubber.add_client_error("converse", "ThrottlingException", "Rate exceeded", 429)
        with pytest.raises(Exception) as info:
            await provider.complete(provider_call({"messages": [{"role": "user", "content": "x"}]}))
    await provider.aclose()
    assert getattr(info.value, "status_code", None) == 429
