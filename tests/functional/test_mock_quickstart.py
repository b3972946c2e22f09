"""The quickstart: default config (mock model), curl-style JSON and SDK streaming, structured output."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import openai
import pytest
from pydantic import BaseModel

from llm_gateway.config import load_config
from tests.support.gateway import MASTER_KEY, running_gateway
from tests.support.openai_schema import assert_completion
from tests.support.servers import UvicornThread
from tests.support.sse import assemble, check_stream, parse_sse_text

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def default_gateway() -> Iterator[UvicornThread]:
    with running_gateway(load_config(env={})) as server:
        yield server


def test_curl_style_request_to_the_mock_model(default_gateway: UvicornThread) -> None:
    response = httpx.post(
        default_gateway.base_url + "/v1/chat/completions",
        headers={"authorization": f"Bearer {MASTER_KEY}"},
        json={"model": "mock", "messages": [{"role": "user", "content": "Write a haiku"}]},
    )
    assert response.status_code == 200
    body = assert_completion(response.json())
    assert "Write a haiku" in body["choices"][0]["message"]["content"]


def test_sdk_streams_from_the_mock_model(default_gateway: UvicornThread) -> None:
    client = openai.OpenAI(base_url=default_gateway.base_url + "/v1", api_key=MASTER_KEY, max_retries=0)
    pieces = [
        c.choices[0].delta.content
        for c in client.chat.completions.create(
            model="mock", messages=[{"role": "user", "content": "hello"}], stream=True
        )
        if c.choices
    ]
    assert len([p for p in pieces if p]) > 3
    assert "".join(p or "" for p in pieces).endswith("You said: hello")


def test_mock_stream_with_tools_and_usage(default_gateway: UvicornThread) -> None:
    tool = {
        "type": "function",
        "function": {
            "name": "lookup",
            "parameters": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]},
        },
    }
    response = httpx.post(
        default_gateway.base_url + "/v1/chat/completions",
        headers={"authorization": f"Bearer {MASTER_KEY}"},
        json={
            "model": "mock",
            "stream": True,
            "stream_options": {"include_usage": True},
            "messages": [{"role": "user", "content": "find it"}],
            "tools": [tool],
        },
    )
    chunks, error = check_stream(parse_sse_text(response.text))
    assert error is None and chunks[-1]["usage"]["total_tokens"] > 0
    call = assemble(chunks)[0]["tool_calls"][0]
    assert call["name"] == "lookup" and call["arguments"] == '{"q":"mock q"}' and call["id"].startswith("call_")


class Weather(BaseModel):
    city: str
    temperature_c: float
    conditions: list[str]


def test_structured_output_parses_with_the_sdk(default_gateway: UvicornThread) -> None:
    client = openai.OpenAI(base_url=default_gateway.base_url + "/v1", api_key=MASTER_KEY, max_retries=0)
    result = client.chat.completions.parse(
        model="mock", messages=[{"role": "user", "content": "weather?"}], response_format=Weather
    )
    parsed = result.choices[0].message.parsed
    assert isinstance(parsed, Weather) and parsed.city == "mock city"
