"""One boto3 session per process: the config and master key from SSM, the keys, state, usage and cache
tables, and a Bedrock deployment all get their clients from the gateway's one AWS client factory."""

from __future__ import annotations

import time
from typing import Any

import boto3
import httpx
import pytest

from llm_gateway.api.app import create_app
from llm_gateway.gateway import Gateway, GatewayOptions
from tests.support.tenants import key_store, make_key

pytestmark = pytest.mark.slow

CONFIG = """
models:
  - {name: mock, provider: mock, model: mock-1}
  - {name: claude, provider: bedrock, model: anthropic.claude-test, region: us-east-1,
     endpoint_url: "http://127.0.0.1:9"}
cache: {mode: "on", backend: dynamodb}
router: {num_retries: 0}
"""
HI = [{"role": "user", "content": "hi"}]


async def test_every_aws_client_comes_from_one_session(
    moto_endpoint: str, dynamodb_tables: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    prefix = f"/llm-gateway/session-{time.monotonic_ns()}"
    ssm = boto3.client("ssm", endpoint_url=moto_endpoint, region_name="us-east-1")
    ssm.put_parameter(Name=f"{prefix}/config", Value=CONFIG, Type="String")
    ssm.put_parameter(Name=f"{prefix}/master-key", Value="sk-master-from-ssm", Type="SecureString")
    secret, _ = make_key(key_store(moto_endpoint, dynamodb_tables), now=time.time(), rpm=100)
    monkeypatch.setenv("AWS_ENDPOINT_URL_SSM", moto_endpoint)  # botocore reads these itself

    sessions: list[Any] = []
    real_init = boto3.session.Session.__init__

    def counted(self: Any, *args: Any, **kwargs: Any) -> None:
        sessions.append(self)
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(boto3.session.Session, "__init__", counted)
    env = {
        **dynamodb_tables,
        "AWS_ENDPOINT_URL_DYNAMODB": moto_endpoint,
        "LLM_GATEWAY_CONFIG": f"ssm:{prefix}/config",
        "LLM_GATEWAY_MASTER_KEY_REF": f"ssm:{prefix}/master-key",
    }
    gateway = Gateway(GatewayOptions(env=env))
    transport = httpx.ASGITransport(app=create_app(gateway))
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway", timeout=30) as client:

        async def chat(key: str, model: str, **headers: str) -> int:
            body = {"model": model, "messages": HI}
            answer = await client.post(
                "/v1/chat/completions", json=body, headers={"authorization": f"Bearer {key}", **headers}
            )
            return answer.status_code

        assert await chat("sk-master-from-ssm", "mock", **{"idempotency-key": "one"}) == 200  # state table
        assert await chat(secret, "mock") == 200  # keys table, a rate limit in the state table
        assert await chat(secret, "mock") == 200  # a cache hit
        assert await chat("sk-master-from-ssm", "claude") >= 500  # a bedrock-runtime client; the call fails
        await gateway.tenants.flush_usage()  # usage table
        spend = await client.get("/v1/spend", headers={"authorization": "Bearer sk-master-from-ssm"})
        assert spend.json()["total_requests"] == 4
    assert gateway.cache is not None and gateway.cache.metrics.get("hit") == 1
    assert len(sessions) == 1
    assert getattr(gateway.aws, "sessions", None) == 1
