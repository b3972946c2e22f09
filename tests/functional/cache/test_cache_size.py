"""Stored bodies are compressed; an answer over DynamoDB's 400 KB item limit is split across items, or
(over ``max_parts``) not cached and counted: never an error to the client."""

from __future__ import annotations

import base64
import os

import pytest

from tests.support.cache import ask, cached_gateway, sdk, stream
from tests.support.fake_openai import FakeOpenAI, Reply
from tests.support.sse import assemble

pytestmark = pytest.mark.slow


def incompressible(size: int) -> str:
    return base64.b64encode(os.urandom(size)).decode()


def test_compressible_answers_take_one_small_item(fake_openai: FakeOpenAI, cache_env: dict[str, str]) -> None:
    fake_openai.plan(Reply(text="all work and no play " * 30_000))  # 630 KB of text
    with cached_gateway(fake_openai, cache_env) as gateway:
        client = sdk(gateway)
        ask(client)
        answer, headers = ask(client)
        assert headers["x-llm-gateway-cache"] == "hit"
        assert len(answer["choices"][0]["message"]["content"]) == 630_000
        assert gateway.gateway.cache.metrics.get("stored") == 1  # type: ignore[attr-defined]


def test_an_answer_over_the_item_limit_is_split(fake_openai: FakeOpenAI, cache_env: dict[str, str]) -> None:
    text = incompressible(600_000)  # 800 KB of base64: ~600 KB compressed, two items
    fake_openai.plan(Reply(text=text))
    with cached_gateway(fake_openai, cache_env) as gateway:
        client = sdk(gateway)
        ask(client)
        answer, headers = ask(client)
        assert headers["x-llm-gateway-cache"] == "hit" and answer["choices"][0]["message"]["content"] == text
        chunks, headers = stream(gateway, {})
        assert headers["x-llm-gateway-cache"] == "hit" and assemble(chunks)[0]["content"] == text
    assert len(fake_openai.chat_requests()) == 1


def test_an_answer_over_the_part_limit_is_not_cached(fake_openai: FakeOpenAI, cache_env: dict[str, str]) -> None:
    text = incompressible(600_000)
    fake_openai.default = Reply(text=text)
    with cached_gateway(fake_openai, cache_env, cache={"max_parts": 1}) as gateway:
        client = sdk(gateway)
        answer, headers = ask(client)
        assert headers["x-llm-gateway-cache"] == "miss" and answer["choices"][0]["message"]["content"] == text
        answer, headers = ask(client)
        assert headers["x-llm-gateway-cache"] == "miss" and answer["choices"][0]["message"]["content"] == text
        metrics = gateway.gateway.cache.metrics.snapshot()  # type: ignore[attr-defined]
    assert metrics["not_stored.oversize"] == 2 and "stored" not in metrics
    assert len(fake_openai.chat_requests()) == 2
