"""Entries are scoped to the caller: one key never gets another key's cached answer, unless both name
a namespace that the config shares explicitly. And an answer is stored only under the model group that
produced it."""

from __future__ import annotations

from collections.abc import Mapping

import openai
import pytest

from llm_gateway.core.context import Principal
from llm_gateway.errors import AuthenticationError
from tests.support.cache import ask, cache_config, cached_gateway, sdk, stream
from tests.support.fake_openai import FakeOpenAI, Reply, Status
from tests.support.gateway import running_gateway

pytestmark = pytest.mark.slow


class KeyTable:
    """An authenticator with several keys, each its own principal."""

    def __init__(self, principals: Mapping[str, Principal]) -> None:
        self.principals = principals

    async def authenticate(self, token: str | None) -> Principal:
        if token not in self.principals:
            raise AuthenticationError("Incorrect API key provided.")
        return self.principals[token]


KEYS = KeyTable(
    {
        "sk-alice-secret": Principal(key_id="alice"),
        "sk-bob-secret": Principal(key_id="bob"),
        "sk-carol-secret": Principal(key_id="carol", allowed_models=frozenset({"other-model"})),
    }
)


def test_one_tenant_never_gets_anothers_answer(fake_openai: FakeOpenAI, cache_env: dict[str, str]) -> None:
    fake_openai.plan(Reply(text="for alice"), Reply(text="for bob"))
    with cached_gateway(fake_openai, cache_env, authenticator=KEYS) as gateway:
        alice, bob = sdk(gateway, "sk-alice-secret"), sdk(gateway, "sk-bob-secret")
        assert ask(alice)[0]["choices"][0]["message"]["content"] == "for alice"
        answer, headers = ask(bob)
        assert headers["x-llm-gateway-cache"] == "miss" and answer["choices"][0]["message"]["content"] == "for bob"
        # the same private namespace name is still per caller
        assert ask(alice, cache={"namespace": "team"})[1]["x-llm-gateway-cache"] == "miss"
        assert ask(bob, cache={"namespace": "team"})[1]["x-llm-gateway-cache"] == "miss"
        assert ask(alice)[0]["choices"][0]["message"]["content"] == "for alice"
        assert ask(bob)[0]["choices"][0]["message"]["content"] == "for bob"
        _chunks, headers = stream(gateway, {}, key="sk-bob-secret")
        assert headers["x-llm-gateway-cache"] == "hit"
    assert len(fake_openai.chat_requests()) == 4
    # entries are keyed by a hash over the key's id: neither the key nor its id is in the table's keys
    keys = [str(item["pk"]) + str(item["sk"]) for item in _scan(cache_env)]
    assert keys and not any("alice" in key or "bob" in key for key in keys)


def test_shared_namespace_named_in_config(fake_openai: FakeOpenAI, cache_env: dict[str, str]) -> None:
    cache = {"shared_namespaces": ["faq"]}
    with cached_gateway(fake_openai, cache_env, authenticator=KEYS, cache=cache) as gateway:
        alice, bob = sdk(gateway, "sk-alice-secret"), sdk(gateway, "sk-bob-secret")
        assert ask(alice, cache={"namespace": "faq"})[1]["x-llm-gateway-cache"] == "miss"
        assert ask(bob, cache={"namespace": "faq"})[1]["x-llm-gateway-cache"] == "hit"
        assert ask(bob, headers={"cache-control": "namespace=faq"})[1]["x-llm-gateway-cache"] == "hit"
        assert ask(bob)[1]["x-llm-gateway-cache"] == "miss"  # outside the namespace: bob's own scope
        # a shared entry is still refused to a key that may not use the model
        carol = sdk(gateway, "sk-carol-secret")
        with pytest.raises(openai.PermissionDeniedError):
            ask(carol, cache={"namespace": "faq"})
    assert len(fake_openai.chat_requests()) == 2


def test_a_hit_never_serves_a_model_that_left_the_config(fake_openai: FakeOpenAI, cache_env: dict[str, str]) -> None:
    with cached_gateway(fake_openai, cache_env) as gateway:
        ask(sdk(gateway))
    renamed = cache_config(fake_openai)
    renamed["models"][0]["name"] = "gpt-renamed"
    with running_gateway(renamed, cache_env) as gateway, pytest.raises(openai.NotFoundError):
        ask(sdk(gateway))


def _scan(env: dict[str, str]) -> list[dict[str, object]]:
    import boto3

    client = boto3.client("dynamodb", endpoint_url=env["AWS_ENDPOINT_URL_DYNAMODB"], region_name="us-east-1")
    items: list[dict[str, object]] = client.scan(TableName=env["LLM_GATEWAY_CACHE_TABLE"])["Items"]
    return items


def test_an_answer_from_a_fallback_group_is_not_stored(fake_openai: FakeOpenAI, cache_env: dict[str, str]) -> None:
    config = cache_config(fake_openai)
    config["models"].append({**config["models"][0], "name": "gpt-b", "model": "model-b"})
    config["models"][0]["model"] = "model-a"
    fake_openai.plan(Status(500), Status(500), model="model-a")
    fake_openai.plan(Reply(text="from b"), Reply(text="from b again"), model="model-b")
    with running_gateway(config, cache_env) as gateway:
        client = sdk(gateway)
        for expected in ("from b", "from b again"):
            answer, headers = ask(client, num_retries=0, fallbacks=["gpt-b"])
            assert answer["choices"][0]["message"]["content"] == expected
            assert headers["x-llm-gateway-cache"] == "miss" and headers["x-llm-gateway-model-group"] == "gpt-b"
        assert gateway.gateway.cache.metrics.get("not_stored.fallback") == 2  # type: ignore[attr-defined]
