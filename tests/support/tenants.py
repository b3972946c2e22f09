"""Helpers for tenant tests: DynamoDB clients on moto, virtual keys, a clock tests can move."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from llm_gateway.aws.clients import AwsClients
from llm_gateway.tenants.dynamo import DynamoTable
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


def key_store(endpoint: str, tables: dict[str, str]) -> KeyStore:
    return KeyStore(DynamoTable(dynamodb_client(endpoint), tables["LLM_GATEWAY_KEYS_TABLE"]))


def spend_store(endpoint: str, tables: dict[str, str]) -> SpendStore:
    return SpendStore(DynamoTable(dynamodb_client(endpoint), tables["LLM_GATEWAY_USAGE_TABLE"]))


def usage_records(spend: SpendStore, key_id: str, since: float, until: float) -> list[dict[str, Any]]:
    """The usage records of ``key_id`` written between ``since`` and ``until`` (epoch seconds)."""
    lo = dt.datetime.fromtimestamp(since, tz=dt.UTC).isoformat(timespec="milliseconds")
    hi = dt.datetime.fromtimestamp(until, tz=dt.UTC).isoformat(timespec="milliseconds") + "~"
    return spend.table.query(f"usage#{key_id}", lo, hi)


def make_key(store: KeyStore, *, now: float, owner: str = "alice", **settings: Any) -> tuple[str, str]:
    """Create a key; returns ``(secret, key_id)``."""
    secret, record = new_key(owner=owner, now=now, **settings)
    remember_secret(secret)
    store.create(record)
    return secret, record.key_id


PRICES = {"gpt-test": {"input": 2.5, "output": 10.0, "cached_input": 1.25}}


def priced_config(base: dict[str, Any], **tenants: Any) -> dict[str, Any]:
    return {**base, "tenants": {"prices": PRICES, **tenants}}
