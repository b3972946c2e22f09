from __future__ import annotations

import pytest

from tests.support.cache import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def cache_env(moto_endpoint: str, dynamodb_tables: dict[str, str]) -> dict[str, str]:
    """The gateway's environment: DynamoDB at moto, fresh tables for this test."""
    return {"AWS_ENDPOINT_URL_DYNAMODB": moto_endpoint, "AWS_DEFAULT_REGION": "us-east-1", **dynamodb_tables}
