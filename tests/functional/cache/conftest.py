from __future__ import annotations

import pytest

from tests.support.cache import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def cache_env(moto_endpoint: str, dynamodb_tables: dict[str, str]) -> dict[str, str]:
    """The gateway's environment: DynamoDB at moto, fresh tables for this test. Without the usage table
    (usage records then stay in memory), so the tests' DynamoDB call counts are the cache's own."""
    tables = {k: v for k, v in dynamodb_tables.items() if k != "LLM_GATEWAY_USAGE_TABLE"}
    return {"AWS_ENDPOINT_URL_DYNAMODB": moto_endpoint, "AWS_DEFAULT_REGION": "us-east-1", **tables}
