"""Native pass-through of ``/v1/responses`` (a deployment with ``native: [responses]`` on an
OpenAI-compatible server that serves the Responses API itself), over a real socket with the ``openai``
SDK: the body reaches ``/v1/responses`` untouched but for ``model`` (a valid ``CreateResponse``), the
upstream's answer and events come back as they were, and the layers still see the chat translation
(usage and spend, the cache, stored responses for ``previous_response_id``, fallbacks to a bridged
deployment). Without ``native`` the same server gets the chat translation."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from llm_gateway.config import ConfigError
from tests.functional.test_responses import WEATHER, events_of
from tests.support.fake_responses import NATIVE_TEXT, FakeResponsesServer
from tests.support.gateway import MASTER_KEY, make_gateway, running_gateway
from tests.support.responses_schema import assert_events, assert_request, assert_response
from tests.support.tenants import ManualClock, aws_clients, key_store, make_key, spend_store, usage_records

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeResponsesServer]:
    fake = FakeResponsesServer().start()
    yield fake
    fake.stop()


@pytest.fixture(autouse=True)
def fresh(upstream: FakeResponsesServer) -> None:
    upstream.reset()


def native(upstream: FakeResponsesServer, name: str = "gpt", **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "provider": "openai",
        "model": "gpt-5-upstream",
        "api_base": upstream.v1,
        "api_key": "sk-upstream-secret-key-abcdef",
        "native": ["responses"],
        **extra,
    }


def _client(base_url: str, key: str = MASTER_KEY) -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url + "/v1", api_key=key, max_retries=0)


def test_the_body_goes_through_untouched_and_the_answer_comes_back(upstream: FakeResponsesServer) -> None:
    with running_gateway({"models": [native(upstream)]}) as gw:
        client = _client(gw.base_url)
        body = {
            "model": "gpt",
            "input": [{"role": "user", "content": "Hi"}],
            "instructions": "Be brief.",
            "reasoning": {"effort": "low", "summary": "auto"},
            "include": ["reasoning.encrypted_content"],
            "metadata": {"k": "v"},
        }
        raw = client.responses.with_raw_response.create(**body, extra_headers={"openai-beta": "responses=v1"})
        answer = assert_response(json.loads(raw.text))
        assert raw.parse().output_text == NATIVE_TEXT and answer["id"] == "resp_upstream_0001"
        assert answer["model"] == "gpt" and answer["usage"]["total_tokens"] == 28
        [sent] = upstream.responses_requests()
        assert assert_request(sent.json()) == {**body, "model": "gpt-5-upstream"}
        assert sent.headers["openai-beta"] == "responses=v1"
        assert sent.headers["authorization"] == "Bearer sk-upstream-secret-key-abcdef"
        assert upstream.chat_requests() == []

        streamed = events_of(
            httpx.post(
                f"{gw.base_url}/v1/responses",
                json={**body, "stream": True},
                headers={"authorization": f"Bearer {MASTER_KEY}"},
            )
        )
        assert_events(streamed)
        assert streamed[-1]["response"]["model"] == "gpt"
        with client.responses.stream(**body) as stream:
            kinds = [event.type for event in stream]
            final = stream.get_final_response()
        assert kinds == [e["type"] for e in streamed] and final.output_text == NATIVE_TEXT


def test_a_tool_loop_through_previous_response_id_and_the_stored_answer(upstream: FakeResponsesServer) -> None:
    with running_gateway({"models": [native(upstream)]}) as gw:
        client = _client(gw.base_url)
        first = client.responses.create(model="gpt", input="Weather in Paris?", tools=[WEATHER])
        [call] = first.output
        assert call.type == "function_call" and call.call_id == "call_upstream_1"
        assert client.responses.retrieve(first.id).id == first.id  # kept by the gateway for the key
        output = {"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}
        second = client.responses.create(model="gpt", previous_response_id=first.id, input=[output], tools=[WEATHER])
        assert second.output_text == NATIVE_TEXT
        sent = upstream.responses_requests()[-1].json()
        assert sent["previous_response_id"] == first.id and sent["input"] == [output]
        with pytest.raises(openai.NotFoundError):  # an id the caller does not own never reaches the upstream
            client.responses.create(model="gpt", previous_response_id="resp_someone_else", input="hi")
        assert len(upstream.responses_requests()) == 2


def test_a_failure_mid_stream_is_numbered_after_the_upstreams_events(upstream: FakeResponsesServer) -> None:
    with running_gateway({"models": [native(upstream)]}) as gw:
        upstream.fail_stream_after = 4
        events = events_of(
            httpx.post(
                f"{gw.base_url}/v1/responses",
                json={"model": "gpt", "input": "hi", "stream": True},
                headers={"authorization": f"Bearer {MASTER_KEY}"},
            )
        )
        assert_events(events)
        assert [e["type"] for e in events[-2:]] == ["error", "response.failed"]
        assert events[-1]["response"]["id"] == "resp_upstream_0001"


def test_usage_spend_cache_and_a_fallback_to_a_bridged_deployment(
    upstream: FakeResponsesServer, moto_endpoint: str, dynamodb_tables: dict[str, str]
) -> None:
    clock = ManualClock(now=1_764_000_000.0 + 5)
    secret, key_id = make_key(key_store(moto_endpoint, dynamodb_tables), now=clock(), owner="alice")
    bridged = {**native(upstream, name="bridged", id="bridged"), "native": []}
    config = {
        "models": [native(upstream, id="native"), bridged],
        "router": {"num_retries": 0, "fallbacks": {"gpt": ["bridged"]}},
        "cache": {"backend": "memory"},
        "tenants": {"prices": {"gpt": {"input": 1.0, "output": 2.0}, "bridged": {"input": 1.0, "output": 2.0}}},
    }
    options = {"aws_clients": aws_clients(moto_endpoint), "clock": clock}
    with running_gateway(config, env=dynamodb_tables, **options) as gw:
        client = _client(gw.base_url, secret)
        first = client.responses.with_raw_response.create(model="gpt", input="cache me", extra_body={"caching": True})
        again = client.responses.with_raw_response.create(model="gpt", input="cache me", extra_body={"caching": True})
        assert (first.headers["x-llm-gateway-cache"], again.headers["x-llm-gateway-cache"]) == ("miss", "hit")
        assert again.parse().output_text == NATIVE_TEXT and len(upstream.responses_requests()) == 1
        # a chat request with the same translation never gets the native answer from the cache
        chat = client.chat.completions.with_raw_response.create(
            model="gpt", messages=[{"role": "user", "content": "cache me"}], extra_body={"caching": True}
        )
        assert chat.headers["x-llm-gateway-cache"] == "miss" and "native" not in json.loads(chat.text)

        upstream.fail_status = 500  # the native deployment fails: the group falls back to a bridged one
        fell_back = client.responses.with_raw_response.create(model="gpt", input="hi")
        assert fell_back.headers["x-llm-gateway-model-group"] == "bridged"
        assert assert_response(json.loads(fell_back.text))["model"] == "gpt"
        assert fell_back.parse().output_text == "Hello from the fake upstream."
        assert upstream.chat_requests()[-1].json()["messages"] == [{"role": "user", "content": "hi"}]
        asyncio_flush(gw)
    records = usage_records(spend_store(moto_endpoint, dynamodb_tables), key_id, clock() - 60, clock() + 60)
    # the native answer's usage reached the ledger (the chat translation's usage: input 21, output 7)
    assert any((r["model"], r["prompt_tokens"], r["completion_tokens"]) == ("gpt", 21, 7) for r in records)


def asyncio_flush(server: Any) -> None:
    import asyncio

    asyncio.run_coroutine_threadsafe(server.gateway.tenants.flush_usage(), server.loop).result(timeout=30)


def test_native_needs_a_provider_that_can_pass_it_through() -> None:
    entry = {"name": "m", "provider": "mock", "model": "mock-1", "native": ["responses"]}
    with pytest.raises(ConfigError, match="cannot pass responses requests through"):
        make_gateway({"models": [entry]}).ensure_ready()


def test_hosted_tools_reach_a_native_upstream_and_nothing_else(upstream: FakeResponsesServer) -> None:
    search = {"type": "web_search"}
    bridged = {**native(upstream, name="bridged", id="bridged"), "native": []}
    mixed = [
        native(upstream, name="mixed", id="mixed-native"),
        {**native(upstream, name="mixed", id="mixed-chat"), "native": []},
    ]
    config = {
        "models": [native(upstream, id="native"), bridged, *mixed],
        "router": {"num_retries": 0, "fallbacks": {"gpt": ["bridged"]}},
    }
    with running_gateway(config) as gw:
        client = _client(gw.base_url)
        body = {"model": "gpt", "input": "News today?", "tools": [search, WEATHER], "tool_choice": "auto"}
        answer = client.responses.create(**body)  # type: ignore[arg-type]
        assert answer.output[0].type == "function_call"
        assert upstream.responses_requests()[-1].json()["tools"][0] == search  # the body as it came
        # a group with a bridged deployment refuses it before any upstream call
        with pytest.raises(openai.BadRequestError) as refused:
            client.responses.create(**{**body, "model": "mixed"})  # type: ignore[arg-type]
        assert refused.value.body["param"] == "tools[0].type"  # type: ignore[index]
        # the native deployment fails: its bridged fallback cannot carry the hosted tool
        upstream.fail_status = 500
        calls = len(upstream.chat_requests())
        with pytest.raises(openai.BadRequestError) as fallback:
            client.responses.create(**body)  # type: ignore[arg-type]
        assert fallback.value.body["param"] == "tools[0].type"  # type: ignore[index]
        assert fallback.value.body["code"] == "unsupported_feature"  # type: ignore[index]
        assert len(upstream.chat_requests()) == calls  # never sent without the tool
