"""One gateway under uvicorn per module, pointed at the session's fake OpenAI upstream."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.support.fake_openai import FakeOpenAI
from tests.support.gateway import MASTER_KEY, running_gateway
from tests.support.servers import UvicornThread

UPSTREAM_KEY = "sk-upstream-secret-key-abcdef0123"


def core_config(api_base: str) -> dict[str, Any]:
    upstream = {"provider": "openai", "api_base": api_base, "api_key": UPSTREAM_KEY}
    return {
        "models": [
            {"name": "gpt-test", "model": "fake-model", **upstream},
            {"name": "gpt-fast-timeout", "model": "fake-timeout", "timeout": 1.0, **upstream},
            {"name": "mock", "provider": "mock", "model": "mock-1"},
            {"name": "mock-stream", "provider": "mock", "model": "mock-1", "chunk_delay_ms": 100},
        ],
        "server": {"read_timeout": 5, "stream_heartbeat_seconds": 0.3},
    }


@pytest.fixture(scope="module")
def gateway(fake_openai_server: FakeOpenAI) -> Iterator[UvicornThread]:
    with running_gateway(core_config(fake_openai_server.v1)) as server:
        yield server


@pytest.fixture
def client(gateway: UvicornThread, fake_openai: FakeOpenAI) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.base_url + "/v1", api_key=MASTER_KEY, max_retries=0, timeout=30)


@pytest.fixture
def async_client(gateway: UvicornThread, fake_openai: FakeOpenAI) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=gateway.base_url + "/v1", api_key=MASTER_KEY, max_retries=0, timeout=30)


@pytest.fixture
def http(gateway: UvicornThread, fake_openai: FakeOpenAI) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=gateway.base_url, headers={"authorization": f"Bearer {MASTER_KEY}"}, timeout=30
    ) as client:
        yield client
