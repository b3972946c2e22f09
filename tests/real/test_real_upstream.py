"""Against a real OpenAI-compatible server (opt-in: `make real-upstream`, which starts llama.cpp's server
with SmolLM2-135M). Skipped unless LLM_GATEWAY_REAL_UPSTREAM names the server's /v1 base URL."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import openai
import pytest

from tests.support.gateway import MASTER_KEY, running_gateway
from tests.support.openai_schema import assert_chunk, assert_completion
from tests.support.servers import UvicornThread

BASE = os.environ.get("LLM_GATEWAY_REAL_UPSTREAM")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not BASE, reason="set LLM_GATEWAY_REAL_UPSTREAM (make real-upstream)"),
]
USER = [{"role": "user", "content": "Name three colours."}]


@pytest.fixture(scope="module")
def client() -> Iterator[openai.OpenAI]:
    config = {
        "models": [{"name": "smol", "provider": "openai", "model": "smollm2", "api_base": BASE, "api_key": "sk-none"}],
        "server": {"read_timeout": 120},
    }
    with running_gateway(config) as server:
        assert isinstance(server, UvicornThread)
        yield openai.OpenAI(base_url=server.base_url + "/v1", api_key=MASTER_KEY, max_retries=0, timeout=300)


def test_non_stream_n2(client: openai.OpenAI) -> None:
    result = client.chat.completions.create(model="smol", messages=USER, max_tokens=24, n=2, seed=1)
    body = result.model_dump(exclude_unset=True)
    assert_completion(body)
    assert len(result.choices) >= 1 and result.choices[0].message.content
    assert result.usage is not None and result.usage.completion_tokens > 0
    print(json.dumps(body)[:600])


def test_stream_with_usage(client: openai.OpenAI) -> None:
    chunks = list(
        client.chat.completions.create(
            model="smol", messages=USER, max_tokens=24, stream=True, stream_options={"include_usage": True}
        )
    )
    for chunk in chunks:
        assert_chunk(chunk.model_dump(exclude_unset=True))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text and chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    print(text)


def test_tools(client: openai.OpenAI) -> None:
    tool = {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        },
    }
    result = client.chat.completions.create(
        model="smol",
        messages=[{"role": "user", "content": "Weather in Paris?"}],
        tools=[tool],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        max_tokens=64,
    )
    assert_completion(result.model_dump(exclude_unset=True))
    print(result.choices[0].message.model_dump_json())
    chunks = list(
        client.chat.completions.create(
            model="smol",
            messages=[{"role": "user", "content": "Weather in Paris?"}],
            tools=[tool],
            tool_choice={"type": "function", "function": {"name": "get_weather"}},
            max_tokens=64,
            stream=True,
        )
    )
    for chunk in chunks:
        assert_chunk(chunk.model_dump(exclude_unset=True))
