"""Limits are enforced by the running app, before any upstream call, with an OpenAI-shaped 400."""

from __future__ import annotations

import httpx
import pytest

from tests.support.fake_openai import FakeOpenAI
from tests.support.gateway import MASTER_KEY, openai_config, running_gateway
from tests.support.openai_schema import assert_error

pytestmark = pytest.mark.slow

USER = {"role": "user", "content": "hi"}


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"messages": [USER] * 6}, "messages"),
        ({"n": 3}, "n"),
        ({"max_tokens": 5000}, "max_tokens"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
        ({"tools": [{"type": "function", "function": {"name": f"f{i}"}} for i in range(4)]}, "tools"),
        ({"metadata": {"a": [[[[[[[[[["deep"]]]]]]]]]]}}, None),
    ],
)
def test_limit_refused_before_upstream(fake_openai: FakeOpenAI, extra: dict[str, object], param: str | None) -> None:
    config = openai_config(fake_openai.v1)
    config["request_limits"] = {
        "max_messages": 5,
        "max_n": 2,
        "max_output_tokens": 4096,
        "max_stop_sequences": 4,
        "max_tools": 3,
        "max_json_depth": 8,
    }
    with running_gateway(config) as gateway:
        body = {"model": "gpt-test", "messages": [USER], **extra}
        response = httpx.post(
            f"{gateway.base_url}/v1/chat/completions", json=body, headers={"authorization": f"Bearer {MASTER_KEY}"}
        )
    assert response.status_code == 400
    error = assert_error(response.json())["error"]
    assert error["param"] == param
    assert error["type"] == "invalid_request_error"
    assert fake_openai.chat_requests() == []
