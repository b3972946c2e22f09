"""Thinking kept in DynamoDB is found by any instance: a tool loop whose two steps reach two gateway
instances (as two Lambda execution environments) keeps thinking on."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from tests.clients.conftest import clients_config
from tests.clients.test_python_clients import WEATHER_TOOL
from tests.support.gateway import MASTER_KEY, running_gateway
from tests.support.model_fakes import FINAL_TEXT
from tests.support.tenants import aws_clients, dynamodb_client

pytestmark = pytest.mark.slow


def test_the_second_step_on_another_instance_finds_the_thinking(
    upstreams: dict[str, Any], moto_endpoint: str, dynamodb_tables: dict[str, str]
) -> None:
    config = clients_config(upstreams)
    config["models"] = [m for m in config["models"] if m["name"] == "claude"]
    options = {"env": dynamodb_tables, "aws_clients": aws_clients(moto_endpoint)}
    with running_gateway(config, **options) as first, running_gateway(config, **options) as second:
        question = {"role": "user", "content": "What is the weather in Paris?"}
        one = openai.OpenAI(base_url=first.base_url + "/v1", api_key=MASTER_KEY, max_retries=0)
        with one.chat.completions.stream(
            model="claude",
            messages=[question],
            tools=[WEATHER_TOOL],
            reasoning_effort="low",  # type: ignore[list-item]
        ) as helper:
            answer = helper.get_final_completion().choices[0].message
        assert answer.tool_calls
        call = answer.tool_calls[0]
        history = [
            question,
            {"role": "assistant", "content": answer.content, "tool_calls": [call.model_dump()]},
            {"role": "tool", "tool_call_id": call.id, "content": "sunny"},
        ]
        two = openai.OpenAI(base_url=second.base_url + "/v1", api_key=MASTER_KEY, max_retries=0)
        raw = two.chat.completions.with_raw_response.create(
            model="claude",
            messages=history,
            tools=[WEATHER_TOOL],
            reasoning_effort="low",  # type: ignore[arg-type, list-item]
        )
        assert raw.parse().choices[0].message.content == FINAL_TEXT
        assert "x-llm-gateway-thinking" not in raw.headers
    items = dynamodb_client(moto_endpoint).scan(TableName=dynamodb_tables["LLM_GATEWAY_STATE_TABLE"])["Items"]
    kept = [item for item in items if item["pk"]["S"].startswith("thinking#")]
    assert len(kept) == 1 and call.id not in kept[0]["pk"]["S"]  # the key is a digest, not the id
