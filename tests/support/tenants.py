"""Helpers for tenant tests: DynamoDB clients on moto, virtual keys, a clock tests can move."""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import inspect
from collections.abc import Awaitable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest

from llm_gateway.aws.clients import AwsClients
from llm_gateway.tables.base import Table
from llm_gateway.tables.dynamodb import DynamoTable, fixed_client
from llm_gateway.tables.memory import MemoryTable
from llm_gateway.tenants.keystore import KeyStore
from llm_gateway.tenants.records import new_key
from llm_gateway.tenants.spend import SpendStore
from tests.support.log_scan import remember_secret


@dataclass
class ManualClock:
    """A clock that only moves when told to (wall clock and monotonic at once)."""

    now: float = 1_764_000_000.0  # 2025-11-24T16:00:00Z

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def dynamodb_client(endpoint: str) -> Any:
    import boto3

    return boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1")


def aws_clients(endpoint: str, **overrides: Any) -> AwsClients:
    return AwsClients(overrides={"dynamodb": dynamodb_client(endpoint), **overrides})


T = TypeVar("T")


def run_sync(call: Awaitable[T]) -> T:
    """Wait for a store call from synchronous test code (in a thread of its own when a loop is running)."""

    async def run() -> T:
        return await call

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(run())
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, run()).result()


class Blocking:
    """An async store whose methods synchronous tests call directly (each call waited for with :func:`run_sync`)."""

    def __init__(self, store: Any) -> None:
        self.store = store

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.store, name)
        if not inspect.iscoroutinefunction(attribute):
            return attribute

        @functools.wraps(attribute)
        def call(*args: Any, **kwargs: Any) -> Any:
            return run_sync(attribute(*args, **kwargs))

        return call


BACKENDS = ["memory", pytest.param("dynamodb", marks=pytest.mark.slow)]
"""Parameters of a fixture that gives a test each table in turn (see :func:`backend_table`)."""


def backend_table(request: pytest.FixtureRequest, table_env: str) -> Table:
    """A fresh ``MemoryTable``, or the DynamoDB table ``table_env`` names on moto (created from template.yaml)."""
    if request.param == "memory":
        return MemoryTable()
    endpoint = request.getfixturevalue("moto_endpoint")
    tables = request.getfixturevalue("dynamodb_tables")
    return DynamoTable(fixed_client(dynamodb_client(endpoint)), tables[table_env])


def key_store(endpoint: str, tables: dict[str, str]) -> Any:
    """The keys table's store on moto, for synchronous tests."""
    return Blocking(KeyStore(DynamoTable(fixed_client(dynamodb_client(endpoint)), tables["LLM_GATEWAY_KEYS_TABLE"])))


def spend_store(endpoint: str, tables: dict[str, str]) -> Any:
    """The usage table's store on moto, for synchronous tests."""
    return Blocking(SpendStore(DynamoTable(fixed_client(dynamodb_client(endpoint)), tables["LLM_GATEWAY_USAGE_TABLE"])))


async def query_usage(spend: SpendStore, key_id: str, since: float, until: float) -> list[dict[str, Any]]:
    """The usage records of ``key_id`` written between ``since`` and ``until`` (epoch seconds)."""
    lo = dt.datetime.fromtimestamp(since, tz=dt.UTC).isoformat(timespec="milliseconds")
    hi = dt.datetime.fromtimestamp(until, tz=dt.UTC).isoformat(timespec="milliseconds") + "~"
    return await spend.table.query(f"usage#{key_id}", lo, hi)


def usage_records(spend: SpendStore | Blocking, key_id: str, since: float, until: float) -> list[dict[str, Any]]:
    """:func:`query_usage` for synchronous tests."""
    store: SpendStore = spend.store if isinstance(spend, Blocking) else spend
    return run_sync(query_usage(store, key_id, since, until))


def make_key(store: KeyStore | Blocking, *, now: float, owner: str = "alice", **settings: Any) -> tuple[str, str]:
    """Create a key; returns ``(secret, key_id)``."""
    secret, record = new_key(owner=owner, now=now, **settings)
    remember_secret(secret)
    created = store.create(record)
    if inspect.isawaitable(created):
        run_sync(created)
    return secret, record.key_id


PRICES = {"gpt-test": {"input": 2.5, "output": 10.0, "cached_input": 1.25}}


def priced_config(base: dict[str, Any], **tenants: Any) -> dict[str, Any]:
    return {**base, "tenants": {"prices": PRICES, **tenants}}
