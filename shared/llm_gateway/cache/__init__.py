"""The response cache (DynamoDB, or process memory): see the README's "Response cache".

This module stays light: the gateway imports it at start-up; storage and boto3 load only when the
cache is on.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING

from llm_gateway.aws.environment import on_lambda

if TYPE_CHECKING:
    from llm_gateway.cache.config import CacheConfig
    from llm_gateway.cache.response_cache import ResponseCache
    from llm_gateway.cache.store import CacheStore
    from llm_gateway.core.pipeline import ChatHandler
    from llm_gateway.gateway import Gateway

log = logging.getLogger("llm_gateway.cache")


def effective_config(config: CacheConfig, env: Mapping[str, str]) -> CacheConfig:
    """``cache.mode`` left unset means ``opt-in`` wherever a cache backend exists (a cache table, or a
    backend chosen in config), so a request's ``caching: true`` works without ceremony; else ``off``."""
    if "mode" in config.model_fields_set:
        return config
    from llm_gateway.aws.tables import TableNames

    has_backend = config.backend != "auto" or bool(TableNames.from_env(env).cache)
    return config.model_copy(update={"mode": "opt-in" if has_backend else "off"})


def build_response_cache(gateway: Gateway) -> ResponseCache | None:
    """The cache for this process, or ``None`` when the config turns it off."""
    config = effective_config(gateway.config.cache, gateway.env)
    if not config.enabled:
        return None
    from llm_gateway.cache.response_cache import ResponseCache

    options = gateway.options
    return ResponseCache(config, _build_store(config, gateway), clock=options.clock, monotonic=options.monotonic)


def _build_store(config: CacheConfig, gateway: Gateway) -> CacheStore:
    from llm_gateway.aws.tables import TableNames
    from llm_gateway.cache.store import MemoryCacheStore
    from llm_gateway.config import ConfigError

    env = gateway.env
    table = TableNames.from_env(env).cache
    backend = config.backend if config.backend != "auto" else ("dynamodb" if table else "memory")
    limits = {
        "max_item_bytes": config.max_item_bytes,
        "max_parts": config.max_parts,
        "compression_level": config.compression_level,
    }
    if backend == "memory":
        log.log(
            logging.WARNING if on_lambda(env) else logging.INFO,
            "response cache in process memory: set LLM_GATEWAY_CACHE_TABLE to share it across instances",
        )
        return MemoryCacheStore(**limits)
    if not table:
        raise ConfigError("cache.backend is 'dynamodb' but LLM_GATEWAY_CACHE_TABLE is not set")
    from llm_gateway.aws.clients import AwsClients
    from llm_gateway.aws.state_table import AsyncTable
    from llm_gateway.cache.dynamodb import DynamoDBCacheStore

    clients = gateway.options.aws_clients or AwsClients(
        env, connect_timeout=config.connect_timeout, read_timeout=config.read_timeout, max_attempts=1
    )
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None
    endpoint = env.get("AWS_ENDPOINT_URL_DYNAMODB") or env.get("AWS_ENDPOINT_URL") or None
    # each cache operation is bounded by `cache.timeout` (ResponseCache.guarded); the table's own,
    # looser bound only catches a call that outlives its operation
    client = AsyncTable(
        lambda: clients("dynamodb", region=region, endpoint_url=endpoint), table, timeout=3 * config.timeout
    )
    store = DynamoDBCacheStore(client, **limits)
    store.warm_up()
    return store


def cache_layer(gateway: Gateway, inner: ChatHandler) -> ChatHandler | None:
    """Layer factory for :mod:`llm_gateway.core.stack`."""
    if gateway.cache is None:
        return None
    from llm_gateway.cache.layer import CacheLayer

    return CacheLayer(inner, gateway.cache, model_known=gateway.groups.__contains__)
