"""Against Anthropic's real API (opt-in). Skipped unless ANTHROPIC_API_KEY is set and
LLM_GATEWAY_REAL_ANTHROPIC names the model to use (e.g. ``claude-haiku-4-5``); costs a few cents."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import openai
import pytest

from tests.support.gateway import MASTER_KEY, running_gateway
from tests.support.openai_schema import assert_chunk, assert_completion

MODEL = os.environ.get("LLM_GATEWAY_REAL_ANTHROPIC")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (MODEL and os.environ.get("ANTHROPIC_API_KEY")),
        reason="set ANTHROPIC_API_KEY and LLM_GATEWAY_REAL_ANTHROPIC=<model id>",
    ),
]
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


@pytest.fixture(scope="module")
def client() -> Iterator[openai.OpenAI]:
    config = {
        "models": [{"name": "claude", "provider": "anthropic", "model": MODEL, "api_key": "env:ANTHROPIC_API_KEY"}]
    }
    env = {"ANTHROPIC_API_KEY": os.environ.get("ANTHROPIC_API_KEY", "")}
    with running_gateway(config, env=env) as server:
        yield openai.OpenAI(base_url=server.base_url + "/v1", api_key=MASTER_KEY, max_retries=0, timeout=120)


def test_text(client: openai.OpenAI) -> None:
    result = client.chat.completions.create(
        model="claude",
        messages=[
            {"role": "system", "content": "Answer in one word."},
            {"role": "user", "content": "Capital of France?"},
        ],
        max_tokens=20,
    )
    assert_completion(result.model_dump(exclude_unset=True))
    assert "paris" in (result.choices[0].message.content or "").lower()


def test_parallel_tool_calls_stream_with_usage(client: openai.OpenAI) -> None:
    chunks = list(
        client.chat.completions.create(
            model="claude",
            messages=[{"role": "user", "content": "Get the weather in Paris and in Rome, with two tool calls."}],
            tools=[WEATHER],
            stream=True,
            stream_options={"include_usage": True},
            max_tokens=300,
        )
    )
    for chunk in chunks:
        assert_chunk(chunk.model_dump(exclude_unset=True))
    arguments: dict[int, str] = {}
    for chunk in chunks:
        for choice in chunk.choices:
            for call in choice.delta.tool_calls or []:
                piece = call.function.arguments if call.function and call.function.arguments else ""
                arguments[call.index] = arguments.get(call.index, "") + piece
    assert arguments and all(isinstance(json.loads(a), dict) for a in arguments.values())
    assert chunks[-1].usage is not None and chunks[-1].usage.prompt_tokens > 0
