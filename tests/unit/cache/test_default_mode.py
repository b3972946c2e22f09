"""With no ``cache:`` section, a request's ``caching: true`` works wherever a cache backend exists."""

from __future__ import annotations

from llm_gateway.cache.config import CacheConfig
from llm_gateway.cache.factory import effective_config


def test_unset_mode_is_opt_in_where_a_cache_table_exists() -> None:
    assert effective_config(CacheConfig(), has_table=True).mode == "opt-in"
    assert effective_config(CacheConfig(backend="memory"), has_table=False).mode == "opt-in"


def test_unset_mode_without_a_backend_is_off_and_a_set_mode_is_kept() -> None:
    assert effective_config(CacheConfig(), has_table=False).mode == "off"
    assert effective_config(CacheConfig(mode="off"), has_table=True).mode == "off"
    assert effective_config(CacheConfig(mode="on"), has_table=False).mode == "on"
