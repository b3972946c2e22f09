from __future__ import annotations

from typing import Any

import pytest

from llm_gateway.cache.keys import cache_key, canonical_request
from llm_gateway.schemas.validation import validate_chat_request
from llm_gateway.scopes import cache_scope as scope_for

BASE: dict[str, Any] = {"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]}


def key(body: dict[str, Any], scope: str = "key:a") -> str:
    return cache_key(validate_chat_request(body), scope)


@pytest.mark.parametrize(
    "extra",
    [
        {"stream": True},
        {"stream": True, "stream_options": {"include_usage": True}},
        {"user": "someone"},
        {"metadata": {"team": "x"}},
        {"store": True},
        {"service_tier": "flex"},
        {"caching": True},
        {"cache": {"ttl": 5, "no-store": False}},
        {"num_retries": 3, "fallbacks": ["other"]},
        {"temperature": None},
    ],
)
def test_transport_and_gateway_fields_do_not_change_the_key(extra: dict[str, Any]) -> None:
    assert key({**BASE, **extra}) == key(BASE)


@pytest.mark.parametrize(
    "extra",
    [
        {"model": "other"},
        {"messages": [{"role": "user", "content": "hello"}]},
        {"temperature": 0.2},
        {"top_p": 0.5},
        {"n": 2},
        {"seed": 7},
        {"stop": ["x"]},
        {"max_tokens": 10},
        {"logprobs": True},
        {"tools": [{"type": "function", "function": {"name": "f"}}]},
        {"tool_choice": "none"},
        {"response_format": {"type": "json_object"}},
        {"reasoning_effort": "high"},
        {"some_new_upstream_field": 1},
        {"drop_params": True},
    ],
)
def test_every_field_that_changes_the_answer_changes_the_key(extra: dict[str, Any]) -> None:
    assert key({**BASE, **extra}) != key(BASE)


def test_key_order_and_whole_number_floats_do_not_matter() -> None:
    a = {"messages": [{"content": "hi", "role": "user"}], "temperature": 1.0, "model": "gpt-test"}
    b = {"model": "gpt-test", "temperature": 1, "messages": [{"role": "user", "content": "hi"}]}
    assert key(a) == key(b)
    assert canonical_request(validate_chat_request(a))["temperature"] == 1


def test_scopes_separate_callers_and_namespaces() -> None:
    shared = frozenset({"faq"})
    assert scope_for("a", None, shared) == "key:a"
    assert scope_for("a", "mine", shared) == "key:a/ns:mine"
    assert scope_for("a", "faq", shared) == scope_for("b", "faq", shared) == "shared:faq"
    keys = {key(BASE, scope_for(k, ns, shared)) for k in ("a", "b") for ns in (None, "mine")}
    assert len(keys) == 4
    assert key(BASE, scope_for("a", "faq", shared)) == key(BASE, scope_for("b", "faq", shared))


def test_key_never_contains_the_secret() -> None:
    digest = key(BASE, "key:sk-abc")
    assert len(digest) == 64 and "sk-abc" not in digest


def embeddings_key(body: dict[str, Any], scope: str = "key:a") -> str:
    from llm_gateway.cache.keys import embeddings_cache_key
    from llm_gateway.schemas.embeddings import validate_embedding_request

    return embeddings_cache_key(validate_embedding_request({"model": "embed", **body}), scope)


def test_an_embeddings_key_is_the_normalised_request() -> None:
    plain = embeddings_key({"input": "a"})
    for same in ({"input": ["a"]}, {"input": "a", "encoding_format": "base64"}, {"input": "a", "user": "u"}):
        assert embeddings_key(same) == plain, same
    for other in ({"input": "b"}, {"input": ["a", "a"]}, {"input": "a", "dimensions": 8}, {"input": [[1]]}):
        assert embeddings_key(other) != plain, other
    assert embeddings_key({"input": "a"}, "key:b") != plain
    assert embeddings_key({"input": "a", "drop_params": True}) != plain


def test_embeddings_and_chat_keys_never_meet() -> None:
    chat = key({"model": "embed", "messages": [{"role": "user", "content": "a"}]})
    assert embeddings_key({"input": "a"}) != chat
