"""The buffered Lambda path (Mangum, one event per invocation) caches too: a stream request comes back
whole, and a repeat is a hit."""

from __future__ import annotations

import json
from typing import Any

import pytest
from mangum import Mangum

from llm_gateway.api.app import create_app
from tests.support.cache import HI, cache_config
from tests.support.fake_openai import FakeOpenAI
from tests.support.gateway import MASTER_KEY, make_gateway
from tests.support.sse import assemble, check_stream, parse_sse_text

pytestmark = pytest.mark.slow


def event(body: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/v1/chat/completions",
        "rawQueryString": "",
        "headers": {"host": "x", "content-type": "application/json", "authorization": f"Bearer {MASTER_KEY}"},
        "requestContext": {
            "http": {"method": "POST", "path": "/v1/chat/completions", "sourceIp": "1.2.3.4", "protocol": "HTTP/1.1"},
            "requestId": "r",
            "stage": "$default",
        },
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }


def test_buffered_invocations_share_the_cache(fake_openai: FakeOpenAI, cache_env: dict[str, str]) -> None:
    handler = Mangum(create_app(make_gateway(cache_config(fake_openai), cache_env)), lifespan="off")
    body = {"model": "gpt-test", "messages": HI, "stream": True}
    responses = [handler(event(body), None) for _ in range(2)]
    assert [r["statusCode"] for r in responses] == [200, 200]
    assert [r["headers"]["x-llm-gateway-cache"] for r in responses] == ["miss", "hit"]
    streams = [check_stream(parse_sse_text(r["body"]))[0] for r in responses]
    assert assemble(streams[1]) == assemble(streams[0])
    hit = handler(event({"model": "gpt-test", "messages": HI}), None)
    assert hit["headers"]["x-llm-gateway-cache"] == "hit"
    assert len(fake_openai.chat_requests()) == 1
