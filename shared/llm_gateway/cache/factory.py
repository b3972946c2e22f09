"""Build the response cache and its layer from the ``cache`` config section.

This module stays light: the composition root imports it at start-up; storage and boto3 load only when
the cache is on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from llm_gateway.cache.config import CacheConfig
    from llm_gateway.cache.response_cache import ResponseCache
    from llm_gateway.core.pipeline import ChatHandler
    from llm_gateway.tables.base import Table

log = logging.getLogger("llm_gateway.cache")


def effective_config(config: CacheConfig, *, has_table: bool) -> CacheConfig:
    """``cache.mode`` left unset means ``opt-in`` wherever a cache backend exists (a cache table, or a
    backend chosen in config), so a request's ``caching: true`` works without ceremony; else ``off``."""
    if "mode" in config.model_fields_set:
        return config
    has_backend = config.backend != "auto" or has_table
    return config.model_copy(update={"mode": "opt-in" if has_backend else "off"})


def build_response_cache(
    config: CacheConfig,
    *,
    table: Table | None,
    on_lambda: bool,
    clock: Callable[[], float],
    monotonic: Callable[[], float],
) -> ResponseCache | None:
    """The cache for this process, or ``None`` when the config turns it off. ``table``: the ``CacheTable``
    (``LLM_GATEWAY_CACHE_TABLE``), if there is one."""
    config = effective_config(config, has_table=table is not None)
    if not config.enabled:
        return None
    from llm_gateway.cache.response_cache import ResponseCache
    from llm_gateway.cache.store import CacheStore, memory_cache_store
    from llm_gateway.config import ConfigError

    backend = config.backend if config.backend != "auto" else ("dynamodb" if table is not None else "memory")
    limits = {
        "max_item_bytes": config.max_item_bytes,
        "max_parts": config.max_parts,
        "compression_level": config.compression_level,
    }
    if backend == "memory":
        log.log(
            logging.WARNING if on_lambda else logging.INFO,
            "response cache in process memory: set LLM_GATEWAY_CACHE_TABLE to share it across instances",
        )
        return ResponseCache(config, memory_cache_store(**limits), clock=clock, monotonic=monotonic)
    if table is None:
        raise ConfigError("cache.backend is 'dynamodb' but LLM_GATEWAY_CACHE_TABLE is not set")
    # each cache operation is bounded by `cache.timeout` (ResponseCache.guarded); the table's own, looser
    # bound only catches a call that outlives its operation. No botocore retries: a miss is cheaper.
    tuned = table.tuned(
        timeout=3 * config.timeout,
        connect_timeout=config.connect_timeout,
        read_timeout=config.read_timeout,
        max_attempts=1,
    )
    store = CacheStore(tuned, **limits)
    store.warm_up()
    return ResponseCache(config, store, clock=clock, monotonic=monotonic)


def cache_layer(
    inner: ChatHandler, cache: ResponseCache | None, *, model_known: Callable[[str], bool]
) -> ChatHandler | None:
    """The cache layer, when the cache is on."""
    if cache is None:
        return None
    from llm_gateway.cache.layer import CacheLayer

    return CacheLayer(inner, cache, model_known=model_known)
