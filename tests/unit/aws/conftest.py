"""SSM and Secrets Manager as moto HTTP endpoints, reached through the gateway's own AwsClients."""

from __future__ import annotations

from typing import Any

import pytest

from llm_gateway.aws.clients import AwsClients


@pytest.fixture
def aws(moto_endpoint: str) -> AwsClients:
    import boto3

    def client(service: str) -> Any:
        return boto3.client(service, endpoint_url=moto_endpoint, region_name="us-east-1")

    return AwsClients(overrides={"ssm": client("ssm"), "secretsmanager": client("secretsmanager")})


@pytest.fixture
def prefix(request: pytest.FixtureRequest) -> str:
    """A parameter / secret path of this test's own (moto's state is shared by the session)."""
    return f"/llm-gateway/t{abs(hash(request.node.nodeid)) % 10**10}"
