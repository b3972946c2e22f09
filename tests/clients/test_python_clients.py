"""Real Python clients against the gateway: a two-step tool loop with reasoning on every Claude and
Gemini deployment (the openai SDK as ``runTools`` drives it, pydantic-ai), and structured output through
LangChain and llama-index on every provider. None of these clients sends ``thinking_blocks`` back: the
loop works because the gateway keeps Claude's signed thinking itself."""

from __future__ import annotations

import json
from typing import Any

import httpx
import openai
import pytest
from pydantic import BaseModel

from tests.clients.conftest import EVERY_PROVIDER, REASONING
from tests.support.model_fakes import FINAL_TEXT

pytestmark = pytest.mark.slow

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


class City(BaseModel):
    name: str
    population: int


def _openai_tool_loop(client: openai.OpenAI, model: str, *, stream: bool) -> tuple[str, dict[str, str]]:
    """What openai-node's runTools and every agent framework do: rebuild the assistant turn from
    content and tool_calls, add the tool results, ask again."""
    messages: list[Any] = [{"role": "user", "content": "What is the weather in Paris?"}]
    for _ in range(3):
        request = {"model": model, "messages": messages, "tools": [WEATHER_TOOL], "reasoning_effort": "low"}
        if stream:
            with client.chat.completions.stream(**request) as helper:
                completion = helper.get_final_completion()
                headers = dict(helper._response.headers)  # the helper keeps the HTTP response private
        else:
            raw_response = client.chat.completions.with_raw_response.create(**request)
            headers, completion = dict(raw_response.headers), raw_response.parse()
        message = completion.choices[0].message
        if not message.tool_calls:
            return message.content or "", headers
        messages.append(
            {
                "role": "assistant",
                "content": message.content,
                "tool_calls": [
                    {
                        "id": c.id,
                        "type": "function",
                        "function": {"name": c.function.name, "arguments": c.function.arguments},
                    }
                    for c in message.tool_calls
                ],
            }
        )
        for call in message.tool_calls:
            assert json.loads(call.function.arguments).keys() >= {"city"}
            messages.append({"role": "tool", "tool_call_id": call.id, "content": "sunny, 24 C"})
    raise AssertionError("the loop did not end")


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("model", REASONING)
def test_openai_sdk_tool_loop_with_reasoning(base_url: str, api_key: str, model: str, stream: bool) -> None:
    client = openai.OpenAI(base_url=base_url, api_key=api_key, max_retries=0)
    text, headers = _openai_tool_loop(client, model, stream=stream)
    assert text == FINAL_TEXT
    assert "x-llm-gateway-thinking" not in headers, "the kept thinking went back: thinking stayed on"


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("model", ("claude", "claude-bedrock"))
def test_a_tool_turn_whose_thinking_was_not_kept_runs_without_thinking_and_says_so(
    base_url: str, api_key: str, model: str, stream: bool
) -> None:
    """A history made elsewhere (another gateway, an expired entry): thinking is off for that turn."""
    messages = [
        {"role": "user", "content": "What is the weather in Paris?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "toolu_made_elsewhere",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "toolu_made_elsewhere", "content": "sunny"},
    ]
    response = httpx.post(
        base_url + "/chat/completions",
        headers={"authorization": f"Bearer {api_key}"},
        json={
            "model": model,
            "messages": messages,
            "tools": [WEATHER_TOOL],
            "reasoning_effort": "low",
            "stream": stream,
        },
        timeout=30,
    )
    assert response.status_code == 200, response.text
    assert response.headers["x-llm-gateway-thinking"] == "off"
    if stream:
        assert FINAL_TEXT.split()[-1] in response.text and response.text.rstrip().endswith("data: [DONE]")
    else:
        assert response.json()["choices"][0]["message"]["content"] == FINAL_TEXT


@pytest.mark.parametrize("stream", [False, True], ids=["run", "run_stream"])
@pytest.mark.parametrize("model", REASONING)
def test_pydantic_ai_agent_tool_loop_with_reasoning(base_url: str, api_key: str, model: str, stream: bool) -> None:
    from pydantic_ai import Agent
    from pydantic_ai.models.openai import OpenAIChatModel, OpenAIChatModelSettings
    from pydantic_ai.providers.openai import OpenAIProvider

    chat = OpenAIChatModel(model, provider=OpenAIProvider(base_url=base_url, api_key=api_key))
    agent = Agent(chat, model_settings=OpenAIChatModelSettings(openai_reasoning_effort="low"))
    calls: list[str] = []

    @agent.tool_plain
    def get_weather(city: str) -> str:
        """The weather in a city."""
        calls.append(city)
        return "sunny, 24 C"

    if stream:
        import asyncio

        async def run() -> str:
            async with agent.run_stream("What is the weather in Paris?") as result:
                return await result.get_output()

        output = asyncio.run(run())
    else:
        output = agent.run_sync("What is the weather in Paris?").output
    assert calls and output == FINAL_TEXT


@pytest.mark.parametrize("method", ["function_calling", "json_schema"])
@pytest.mark.parametrize("model", EVERY_PROVIDER)
def test_langchain_structured_output(base_url: str, api_key: str, model: str, method: str) -> None:
    from langchain_openai import ChatOpenAI

    llm = ChatOpenAI(model=model, base_url=base_url, api_key=api_key, max_retries=0)  # type: ignore[arg-type]
    city = llm.with_structured_output(City, method=method).invoke("Describe Paris.")  # type: ignore[arg-type]
    assert isinstance(city, City)


@pytest.mark.parametrize("model", EVERY_PROVIDER)
def test_llama_index_structured_output(base_url: str, api_key: str, model: str) -> None:
    from llama_index.core.prompts import PromptTemplate
    from llama_index.llms.openai_like import OpenAILike

    llm = OpenAILike(
        model=model,
        api_base=base_url,
        api_key=api_key,
        is_chat_model=True,
        is_function_calling_model=True,
        max_retries=0,
    )
    city = llm.structured_predict(City, PromptTemplate("Describe {city}."), city="Paris")
    assert isinstance(city, City)
