"""Scopes built from escaped parts: no key id reaches another tenant's scope, and the ids the gateway
generates keep the formats already stored."""

from __future__ import annotations

import itertools

import pytest

from llm_gateway import scopes
from llm_gateway.scopes import InvalidKeyId, check_key_id

TRICKY = ["a", "b", "a/ns:docs", "a#b", "a%2Fns%3Adocs", "master", "key:a", "a b", "é", "", "%", "a/ns", "docs"]
SHARED = frozenset({"faq"})


def every_scope(key_id: str) -> dict[str, str]:
    return {
        "cache": scopes.cache_scope(key_id, None, SHARED),
        "cache_docs": scopes.cache_scope(key_id, "docs", SHARED),
        "idempotency": scopes.idempotency_pk(key_id, "order-1"),
        "spend": scopes.spend_pk(key_id),
        "usage": scopes.usage_pk(key_id),
        "responses": scopes.response_pk(key_id),
        "limit": scopes.counter_pk(scopes.key_limit_scope(key_id)),
    }


def test_no_two_ids_share_any_scope() -> None:
    for first, second in itertools.combinations(TRICKY, 2):
        a, b = every_scope(first), every_scope(second)
        assert set(a.values()).isdisjoint(b.values()), (first, second)


def test_a_namespace_is_never_another_keys_id() -> None:
    built = {scopes.cache_scope(key, ns, SHARED) for key in TRICKY for ns in (None, *TRICKY)}
    assert len(built) == len(TRICKY) * (len(TRICKY) + 1)
    assert scopes.cache_scope("a/ns:docs", None, SHARED) != scopes.cache_scope("a", "docs", SHARED)


def test_generated_ids_keep_the_stored_formats() -> None:
    key_id = "key_0123456789abcdef"
    assert scopes.cache_scope(key_id, "docs-v2", SHARED) == f"key:{key_id}/ns:docs-v2"
    assert scopes.cache_scope(key_id, "faq", SHARED) == "shared:faq"
    assert scopes.spend_pk(key_id) == f"spend#{key_id}"
    assert scopes.usage_pk(key_id) == f"usage#{key_id}"
    assert scopes.response_pk(key_id) == f"resp#{key_id}"
    assert scopes.counter_pk(scopes.key_limit_scope(key_id)) == f"rl#key#{key_id}"
    assert scopes.counter_pk(scopes.group_scope("gpt-4o-mini")) == "rl#model#gpt-4o-mini"
    assert scopes.idempotency_pk(key_id, "x").startswith(f"idem#{key_id}#")
    assert scopes.thinking_key(key_id, "toolu_1").startswith("thinking#")


@pytest.mark.parametrize("key_id", TRICKY)
def test_parts_round_trip(key_id: str) -> None:
    escaped = scopes.part(key_id)
    assert not set(escaped) & set("#:/ ")
    assert scopes.unescape(escaped) == key_id
    assert scopes.key_id_of_spend_pk(scopes.spend_pk(key_id)) == key_id


@pytest.mark.parametrize("key_id", ["key_0123abcd", "team-search", "a", "A.b_c-9", "x" * 64])
def test_ids_inside_the_rule(key_id: str) -> None:
    assert check_key_id(key_id) == key_id


@pytest.mark.parametrize(
    "key_id", ["", "master", "MASTER", "anonymous", "a/b", "a#b", "a:b", "-a", ".a", "a b", "é", "x" * 65]
)
def test_ids_outside_the_rule(key_id: str) -> None:
    with pytest.raises(InvalidKeyId, match="letters, digits"):
        check_key_id(key_id)


def test_a_new_key_checks_its_id_and_an_old_reserved_one_is_refused() -> None:
    from dataclasses import replace

    from llm_gateway.tenants.records import new_key

    with pytest.raises(InvalidKeyId):
        new_key(owner="o", now=0.0, key_id="master")
    _, record = new_key(owner="o", now=0.0)
    assert record.refusal(1.0) is None
    refusal = replace(record, key_id="master").refusal(1.0)
    assert refusal is not None and "reserved" in refusal
