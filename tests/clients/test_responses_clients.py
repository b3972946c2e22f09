"""The official ``openai`` SDK's Responses API against every provider of the client suite (Anthropic,
Claude on Bedrock, Gemini 3, an OpenAI-compatible server) and the mock: ``responses.create``,
``responses.stream``, a function-tool round trip (the whole conversation sent back, and through
``previous_response_id``) with reasoning on, and structured output through ``responses.parse``. Every
Response and stream event is validated against OpenAI's published schemas."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest
from pydantic import BaseModel

from tests.clients.conftest import EVERY_PROVIDER, REASONING
from tests.support.model_fakes import FINAL_TEXT
from tests.support.responses_schema import assert_event, assert_events, assert_response

# the SDK's ParsedResponse (what its stream and parse helpers return) warns when dumped with to_dict()
pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore:Pydantic serializer warnings")]

WITH_MOCK = (*EVERY_PROVIDER, "mock")

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    "strict": None,
}


class City(BaseModel):
    name: str
    population: int


def _client(base_url: str, api_key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url, api_key=api_key, max_retries=0, timeout=60)


def _final_text(model: str) -> str:
    return "Thanks, I used the tool result: sunny, 24 C" if model == "mock" else FINAL_TEXT


@pytest.mark.parametrize("model", WITH_MOCK)
def test_create_and_stream(base_url: str, api_key: str, model: str) -> None:
    client = _client(base_url, api_key)
    raw = client.responses.with_raw_response.create(model=model, input="Say hello.", instructions="Be brief.")
    body = assert_response(json.loads(raw.text))
    assert body["status"] == "completed" and raw.headers["x-llm-gateway-model-group"] == model
    assert raw.parse().output_text and body["usage"]["output_tokens"] > 0

    with client.responses.stream(model=model, input="Say hello.") as stream:
        events = [assert_event(event.to_dict()) for event in stream]
        final = stream.get_final_response()
    assert_events(events)
    deltas = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    assert deltas == final.output_text and final.usage is not None and final.usage.total_tokens > 0


def _tool_round_trip(client: openai.OpenAI, model: str, *, chained: bool, stream: bool) -> str:
    request: dict[str, Any] = {"model": model, "tools": [WEATHER], "reasoning": {"effort": "low"}}
    conversation: list[Any] = [{"role": "user", "content": "What is the weather in Paris?"}]
    previous: str | None = None
    for _ in range(3):
        turn = {**request, "input": conversation}
        if previous is not None:
            turn["previous_response_id"] = previous
        if stream:
            with client.responses.stream(**turn) as helper:
                assert_events([assert_event(event.to_dict()) for event in helper])
                response = helper.get_final_response()
        else:
            response = client.responses.create(**turn)
        assert_response(response.to_dict())
        calls = [item for item in response.output if item.type == "function_call"]
        if not calls:
            return response.output_text
        outputs = [{"type": "function_call_output", "call_id": c.call_id, "output": "sunny, 24 C"} for c in calls]
        for call in calls:
            assert json.loads(call.arguments).keys() >= {"city"}
        if chained:  # only the tool's output: the gateway holds the rest
            conversation, previous = outputs, response.id
        else:  # the whole conversation back, reasoning items included, as a stateless client does
            conversation = [*conversation, *[item.to_dict() for item in response.output], *outputs]
    raise AssertionError("the loop did not end")


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("chained", [False, True], ids=["whole-conversation", "previous_response_id"])
@pytest.mark.parametrize("model", WITH_MOCK)
def test_function_tool_round_trip(base_url: str, api_key: str, model: str, chained: bool, stream: bool) -> None:
    client = _client(base_url, api_key)
    assert _tool_round_trip(client, model, chained=chained, stream=stream) == _final_text(model)


@pytest.mark.parametrize("model", REASONING)
def test_reasoning_comes_back_as_a_reasoning_item(base_url: str, api_key: str, model: str) -> None:
    client = _client(base_url, api_key)
    response = client.responses.create(
        model=model,
        input="What is the weather in Paris?",
        tools=[WEATHER],
        reasoning={"effort": "low", "summary": "auto"},
    )
    body = assert_response(response.to_dict())
    kinds = [item["type"] for item in body["output"]]
    assert kinds[0] == "reasoning" and "function_call" in kinds
    assert body["output"][0]["summary"][0]["text"]


@pytest.mark.parametrize("model", WITH_MOCK)
def test_structured_output(base_url: str, api_key: str, model: str) -> None:
    client = _client(base_url, api_key)
    parsed = client.responses.parse(model=model, input="A city, please.", text_format=City)
    assert_response(parsed.to_dict())
    assert isinstance(parsed.output_parsed, City)
