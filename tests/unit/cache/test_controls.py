from __future__ import annotations

from typing import Any

import pytest

from llm_gateway.cache.config import CacheConfig
from llm_gateway.cache.controls import CachePolicy, parse_cache_control, resolve_policy
from llm_gateway.config import ConfigError, parse_config
from llm_gateway.errors import InvalidRequestError
from llm_gateway.schemas.validation import validate_chat_request

BASE: dict[str, Any] = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


def policy(mode: str = "on", headers: dict[str, str] | None = None, **body: Any) -> CachePolicy | None:
    config = CacheConfig(mode=mode, ttl=600)  # type: ignore[arg-type]
    return resolve_policy(config, validate_chat_request({**BASE, **body}), headers or {})


def test_mode_on_reads_and_stores_with_the_default_ttl() -> None:
    assert policy() == CachePolicy(read=True, store=True, ttl=600, max_age=None, namespace=None)


def test_caching_false_bypasses_in_every_mode() -> None:
    assert policy("on", caching=False) is None
    assert policy("opt-in", caching=False, cache={"ttl": 5}) is None


def test_opt_in_needs_caching_true_a_cache_object_or_a_header() -> None:
    assert policy("opt-in") is None
    assert policy("opt-in", caching=True) is not None
    assert policy("opt-in", cache={"s-maxage": 60}) is not None
    assert policy("opt-in", headers={"cache-control": "max-age=60"}) is not None
    assert policy("opt-in", headers={"cache-control": "private"}) is None


def test_body_controls() -> None:
    assert policy(cache={"no-cache": True}) == CachePolicy(False, True, 600, None, None)
    assert policy(cache={"no-store": True}) == CachePolicy(True, False, 600, None, None)
    assert policy(cache={"no-cache": True, "no-store": True}) is None
    assert policy(cache={"ttl": 30, "s-maxage": 10, "namespace": "ns1"}) == CachePolicy(True, True, 30, 10, "ns1")
    assert policy(cache={"ttl": 0}) == CachePolicy(True, False, 0, None, None)


def test_header_maps_onto_the_same_controls() -> None:
    assert parse_cache_control('no-cache, No-Store, max-age=5, ttl="60", namespace=a.b, private') == {
        "no-cache": True,
        "no-store": True,
        "s-maxage": 5,
        "ttl": 60,
        "namespace": "a.b",
    }
    assert policy(headers={"cache-control": "no-cache"}) == CachePolicy(False, True, 600, None, None)
    assert policy(headers={"cache-control": "s-maxage=9, ttl=99"}) == CachePolicy(True, True, 99, 9, None)


def test_only_if_cached() -> None:
    assert parse_cache_control("only-if-cached") == {"only-if-cached": True}
    got = policy("opt-in", headers={"cache-control": "only-if-cached"})
    assert got == CachePolicy(True, True, 600, None, None, only_if_cached=True)
    got = policy(headers={"cache-control": "only-if-cached, no-cache, no-store"})
    assert got is not None and got.only_if_cached and not got.read


def test_body_wins_over_header_field_by_field() -> None:
    got = policy(headers={"cache-control": "max-age=5, ttl=99"}, cache={"s-maxage": 50})
    assert got == CachePolicy(True, True, 99, 50, None)


def test_ttl_is_capped_by_max_ttl() -> None:
    config = CacheConfig(mode="on", ttl=10, max_ttl=100)
    got = resolve_policy(config, validate_chat_request({**BASE, "cache": {"ttl": 5000}}), {})
    assert got is not None and got.ttl == 100


@pytest.mark.parametrize("header", ["max-age=abc", "max-age", "ttl=-1", "namespace=bad/name"])
def test_bad_header_values_are_a_400(header: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        policy(headers={"cache-control": header})
    assert caught.value.status_code == 400 and caught.value.code == "invalid_cache_control"


def test_config_section() -> None:
    models = [{"name": "m", "provider": "mock", "model": "x"}]
    assert parse_config({"models": models}).cache.mode == "off"
    # YAML reads a bare `off` / `on` as booleans
    assert parse_config({"models": models, "cache": {"mode": False}}).cache.mode == "off"
    assert parse_config({"models": models, "cache": {"mode": True}}).cache.mode == "on"
    with pytest.raises(ConfigError, match="cache"):
        parse_config({"models": models, "cache": {"mode": "sometimes"}})
    with pytest.raises(ConfigError, match="shared namespace"):
        parse_config({"models": models, "cache": {"shared_namespaces": ["no spaces"]}})
    with pytest.raises(ConfigError, match="max_ttl"):
        parse_config({"models": models, "cache": {"ttl": 100, "max_ttl": 10}})
    with pytest.raises(ConfigError):
        parse_config({"models": models, "cache": {"tll": 100}})
