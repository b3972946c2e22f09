"""Hit and miss through the real app (uvicorn, openai SDK, DynamoDB on moto), and every control."""

from __future__ import annotations

import httpx
import openai
import pytest

from tests.support.cache import HI, FakeClock, ask, cached_gateway, sdk
from tests.support.fake_openai import FakeOpenAI, Reply, Status
from tests.support.gateway import MASTER_KEY
from tests.support.openai_schema import assert_completion

pytestmark = pytest.mark.slow


def test_miss_then_hit(fake_openai: FakeOpenAI, cache_env: dict[str, str], clock: FakeClock) -> None:
    with cached_gateway(fake_openai, cache_env, clock=clock) as gateway:
        client = sdk(gateway)
        first, headers = ask(client)
        assert headers["x-llm-gateway-cache"] == "miss" and "age" not in headers
        clock.advance(42)
        second, headers = ask(client)
        assert headers["x-llm-gateway-cache"] == "hit" and headers["age"] == "42"
        assert headers["x-llm-gateway-attempts"] == "0"
    assert len(fake_openai.chat_requests()) == 1
    assert_completion(second)
    assert second["choices"] == first["choices"]
    assert second["usage"] == first["usage"]  # the original usage, so spend tracking can see it
    # a fresh id and time, as a new answer would have
    assert second["id"] != first["id"] and second["created"] == int(clock.now)
    assert gateway.gateway.cache.metrics.snapshot()["hit"] == 1  # type: ignore[attr-defined]


def test_different_requests_do_not_share(fake_openai: FakeOpenAI, cache_env: dict[str, str]) -> None:
    with cached_gateway(fake_openai, cache_env) as gateway:
        client = sdk(gateway)
        assert ask(client, temperature=0.5)[1]["x-llm-gateway-cache"] == "miss"
        assert ask(client, temperature=0.7)[1]["x-llm-gateway-cache"] == "miss"
        assert ask(client, temperature=0.5, user="u1", metadata={"a": "b"})[1]["x-llm-gateway-cache"] == "hit"
    assert len(fake_openai.chat_requests()) == 2


def test_errors_and_unfinished_answers_are_not_stored(fake_openai: FakeOpenAI, cache_env: dict[str, str]) -> None:
    fake_openai.plan(Status(500), Reply(text="filtered", finish_reason="content_filter"))
    with cached_gateway(fake_openai, cache_env) as gateway:
        client = sdk(gateway)
        with pytest.raises(openai.InternalServerError):
            ask(client)
        assert ask(client)[0]["choices"][0]["finish_reason"] == "content_filter"
        assert ask(client)[1]["x-llm-gateway-cache"] == "miss"  # neither was stored
        assert ask(client)[1]["x-llm-gateway-cache"] == "hit"
    assert len(fake_openai.chat_requests()) == 3


def test_caching_false_bypasses(fake_openai: FakeOpenAI, cache_env: dict[str, str]) -> None:
    with cached_gateway(fake_openai, cache_env) as gateway:
        client = sdk(gateway)
        assert ask(client, caching=False)[1]["x-llm-gateway-cache"] == "bypass"
        assert ask(client)[1]["x-llm-gateway-cache"] == "miss"  # the bypassed answer was not stored
        assert ask(client, caching=False)[1]["x-llm-gateway-cache"] == "bypass"  # nor read
    assert len(fake_openai.chat_requests()) == 3


def test_no_cache_refreshes_and_no_store_leaves_no_trace(fake_openai: FakeOpenAI, cache_env: dict[str, str]) -> None:
    fake_openai.plan(Reply(text="one"), Reply(text="two"), Reply(text="three"))
    with cached_gateway(fake_openai, cache_env) as gateway:
        client = sdk(gateway)
        assert ask(client)[0]["choices"][0]["message"]["content"] == "one"
        answer, headers = ask(client, cache={"no-cache": True})
        assert headers["x-llm-gateway-cache"] == "bypass" and answer["choices"][0]["message"]["content"] == "two"
        assert ask(client)[0]["choices"][0]["message"]["content"] == "two"  # no-cache still stored the fresh one
        answer, headers = ask(client, cache={"no-store": True}, temperature=0.1)
        assert headers["x-llm-gateway-cache"] == "miss"
        assert ask(client, temperature=0.1)[1]["x-llm-gateway-cache"] == "miss"  # no-store: not stored
    assert len(fake_openai.chat_requests()) == 4


def test_ttl_and_s_maxage(fake_openai: FakeOpenAI, cache_env: dict[str, str], clock: FakeClock) -> None:
    with cached_gateway(fake_openai, cache_env, clock=clock, cache={"ttl": 100}) as gateway:
        client = sdk(gateway)
        ask(client)  # default ttl: 100 s
        ask(client, cache={"ttl": 10}, temperature=0)
        clock.advance(9)
        assert ask(client, cache={"s-maxage": 10})[1]["x-llm-gateway-cache"] == "hit"
        assert ask(client, temperature=0)[1]["x-llm-gateway-cache"] == "hit"
        clock.advance(2)  # 11 s: the ttl=10 entry has expired (still in the table: moto never deletes)
        assert ask(client, temperature=0)[1]["x-llm-gateway-cache"] == "miss"
        assert ask(client, cache={"s-maxage": 10})[1]["x-llm-gateway-cache"] == "miss"  # too old for this caller
        clock.advance(1)
        assert ask(client, cache={"s-maxage": 5})[1]["age"] == "1"  # the refreshed one
        clock.advance(98)  # 100 s after the refresh at t=11
        assert ask(client)[1]["x-llm-gateway-cache"] == "hit"
        clock.advance(1)
        assert ask(client)[1]["x-llm-gateway-cache"] == "miss"
    assert len(fake_openai.chat_requests()) == 5


def test_cache_control_header(fake_openai: FakeOpenAI, cache_env: dict[str, str], clock: FakeClock) -> None:
    with cached_gateway(fake_openai, cache_env, clock=clock) as gateway:
        client = sdk(gateway)
        assert ask(client, headers={"Cache-Control": "no-store"})[1]["x-llm-gateway-cache"] == "miss"
        assert ask(client, headers={"Cache-Control": "ttl=5"})[1]["x-llm-gateway-cache"] == "miss"
        clock.advance(3)
        assert ask(client, headers={"Cache-Control": "max-age=2"})[1]["x-llm-gateway-cache"] == "miss"
        assert ask(client, headers={"Cache-Control": "max-age=60"})[1]["x-llm-gateway-cache"] == "hit"
        assert ask(client, headers={"Cache-Control": "no-cache"})[1]["x-llm-gateway-cache"] == "bypass"
        assert ask(client, headers={"Cache-Control": "namespace=mine"})[1]["x-llm-gateway-cache"] == "miss"
        with pytest.raises(openai.BadRequestError) as bad:
            ask(client, headers={"Cache-Control": "max-age=soon"})
        assert bad.value.code == "invalid_cache_control"
    assert len(fake_openai.chat_requests()) == 5


def test_namespaces_partition_a_callers_entries(fake_openai: FakeOpenAI, cache_env: dict[str, str]) -> None:
    with cached_gateway(fake_openai, cache_env) as gateway:
        client = sdk(gateway)
        assert ask(client, cache={"namespace": "a"})[1]["x-llm-gateway-cache"] == "miss"
        assert ask(client, cache={"namespace": "b"})[1]["x-llm-gateway-cache"] == "miss"
        assert ask(client)[1]["x-llm-gateway-cache"] == "miss"
        assert ask(client, cache={"namespace": "a"})[1]["x-llm-gateway-cache"] == "hit"
    assert len(fake_openai.chat_requests()) == 3


def test_opt_in_mode(fake_openai: FakeOpenAI, cache_env: dict[str, str]) -> None:
    with cached_gateway(fake_openai, cache_env, cache={"mode": "opt-in"}) as gateway:
        client = sdk(gateway)
        assert ask(client)[1]["x-llm-gateway-cache"] == "bypass"
        assert ask(client, caching=True)[1]["x-llm-gateway-cache"] == "miss"
        assert ask(client)[1]["x-llm-gateway-cache"] == "bypass"
        assert ask(client, cache={"s-maxage": 600})[1]["x-llm-gateway-cache"] == "hit"
        assert ask(client, headers={"cache-control": "max-age=600"})[1]["x-llm-gateway-cache"] == "hit"
    assert len(fake_openai.chat_requests()) == 3


def test_mode_off_adds_nothing(fake_openai: FakeOpenAI, cache_env: dict[str, str]) -> None:
    with cached_gateway(fake_openai, cache_env, cache={"mode": "off"}) as gateway:
        client = sdk(gateway)
        assert "x-llm-gateway-cache" not in ask(client, caching=True)[1]
        assert "x-llm-gateway-cache" not in ask(client, caching=True)[1]
        assert gateway.gateway.cache is None  # type: ignore[attr-defined]
    assert len(fake_openai.chat_requests()) == 2


def test_only_if_cached(fake_openai: FakeOpenAI, cache_env: dict[str, str]) -> None:
    only = {"Cache-Control": "only-if-cached"}
    with cached_gateway(fake_openai, cache_env) as gateway:
        client = sdk(gateway)
        with pytest.raises(openai.APIStatusError) as missed:
            ask(client, headers=only)
        assert missed.value.status_code == 504 and missed.value.code == "cache_miss"
        with httpx.Client() as http:  # a stream fails before it starts: a real HTTP status
            response = http.post(
                gateway.base_url + "/v1/chat/completions",
                json={"model": "gpt-test", "messages": HI, "stream": True},
                headers={"authorization": f"Bearer {MASTER_KEY}", **only},
            )
        assert response.status_code == 504 and response.json()["error"]["code"] == "cache_miss"
        assert len(fake_openai.chat_requests()) == 0
        ask(client)
        assert ask(client, headers=only)[1]["x-llm-gateway-cache"] == "hit"
    assert len(fake_openai.chat_requests()) == 1
