"""Table-driven: recorded Anthropic messages -> OpenAI chat completions."""

from __future__ import annotations

from typing import Any

import pytest

from llm_gateway.errors import GatewayError, UpstreamConnectionError
from llm_gateway.providers.anthropic.response import FINISH_REASONS, finish_reason, map_message
from llm_gateway.providers.anthropic.settings import settings_for
from llm_gateway.providers.anthropic.tools import ResponsePlan, plan_response
from tests.support.openai_schema import assert_completion
from tests.unit.providers.anthropic.helpers import fixture, make_call

CASES = fixture("responses.json")
NOW = 1700000000.25
PLAIN = {"model": "claude", "messages": [{"role": "user", "content": "hi"}]}


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_response_mapping(case: dict[str, Any]) -> None:
    call = make_call(case.get("request", PLAIN), case.get("deployment"))
    plan = plan_response(call.body, settings_for(call.deployment.config))
    result = map_message(call, case["anthropic"], plan, NOW)
    assert_completion(result)
    assert result == case["openai"]


@pytest.mark.parametrize(
    ("stop_reason", "expected"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("pause_turn", "stop"),
        ("max_tokens", "length"),
        ("model_context_window_exceeded", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
        ("a_future_reason", "stop"),
    ],
)
def test_finish_reasons(stop_reason: str, expected: str) -> None:
    assert finish_reason(stop_reason, called_tools=True) == expected


def test_every_documented_stop_reason_is_mapped() -> None:
    documented = {"end_turn", "max_tokens", "stop_sequence", "tool_use", "pause_turn", "refusal"}
    assert documented | {"model_context_window_exceeded"} == set(FINISH_REASONS)


@pytest.mark.parametrize("data", [None, [], {"type": "message"}, {"content": "text"}])
def test_a_body_that_is_not_a_message_is_a_bad_upstream_response(data: Any) -> None:
    with pytest.raises(UpstreamConnectionError) as caught:
        map_message(make_call(PLAIN), data, ResponsePlan(), NOW)
    assert caught.value.code == "upstream_bad_response"


def test_an_error_body_under_http_200_is_mapped_like_an_error() -> None:
    body = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    with pytest.raises(GatewayError) as caught:
        map_message(make_call(PLAIN), body, ResponsePlan(), NOW)
    assert (caught.value.status_code, caught.value.code) == (503, "upstream_overloaded")
