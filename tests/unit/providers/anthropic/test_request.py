"""Table-driven: recorded OpenAI requests -> the exact Anthropic body (or the exact 400)."""

from __future__ import annotations

from typing import Any

import pytest

from llm_gateway.errors import GatewayError
from llm_gateway.providers.anthropic.request import build_messages_body
from llm_gateway.providers.anthropic.settings import settings_for
from tests.support.openai_schema import assert_error
from tests.unit.providers.anthropic.helpers import fixture, make_call

CASES = fixture("requests.json")


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_request_mapping(case: dict[str, Any]) -> None:
    call = make_call(case["openai"], case.get("deployment"))
    settings = settings_for(call.deployment.config)
    if "error" in case:
        with pytest.raises(GatewayError) as caught:
            build_messages_body(call, settings)
        error = caught.value
        assert_error(error.to_dict())
        assert (error.status_code, error.code, error.param) == (
            case["error"]["status"],
            case["error"]["code"],
            case["error"]["param"],
        ), error.message
        assert "Anthropic" in error.message or error.code in (
            "invalid_value",
            "invalid_tool_arguments",
            "invalid_image_url",
        )
    else:
        assert build_messages_body(call, settings) == case["anthropic"]


def test_unsupported_parameter_message_names_parameter_and_provider() -> None:
    call = make_call({"model": "claude", "messages": [{"role": "user", "content": "hi"}], "seed": 1})
    with pytest.raises(GatewayError) as caught:
        build_messages_body(call, settings_for(call.deployment.config))
    assert "'seed'" in caught.value.message
    assert "Anthropic" in caught.value.message
    assert "drop_params" in caught.value.message


def test_user_ids_that_look_personal_are_hashed() -> None:
    for user in ("bob@example.com", "+1 (555) 010-9999"):
        call = make_call({"model": "claude", "messages": [{"role": "user", "content": "hi"}], "user": user})
        user_id = build_messages_body(call, settings_for(call.deployment.config))["metadata"]["user_id"]
        assert user_id.startswith("sha256:") and user not in user_id
