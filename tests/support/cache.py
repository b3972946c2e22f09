"""Helpers for cache tests: a settable clock, the gateway with caching on, raw and SDK requests."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import openai

from tests.support.fake_openai import FakeOpenAI
from tests.support.gateway import MASTER_KEY, openai_config, running_gateway
from tests.support.servers import UvicornThread
from tests.support.sse import check_stream, parse_sse_lines

HI = [{"role": "user", "content": "hi"}]


class FakeClock:
    """Wall-clock time that only moves when a test says so."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def cache_config(fake: FakeOpenAI, deployment: dict[str, Any] | None = None, **cache: Any) -> dict[str, Any]:
    config = openai_config(fake.v1, **(deployment or {}))
    config["cache"] = {"mode": "on", "timeout": 5.0, **cache}
    return config


@contextmanager
def cached_gateway(
    fake: FakeOpenAI,
    env: dict[str, str],
    *,
    cache: dict[str, Any] | None = None,
    deployment: dict[str, Any] | None = None,
    **options: Any,
) -> Iterator[UvicornThread]:
    with running_gateway(cache_config(fake, deployment, **(cache or {})), env, **options) as gateway:
        yield gateway


def sdk(gateway: UvicornThread, key: str = MASTER_KEY) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.base_url + "/v1", api_key=key, max_retries=0, timeout=30)


def ask(
    client: openai.OpenAI, *, headers: dict[str, str] | None = None, **body: Any
) -> tuple[dict[str, Any], httpx.Headers]:
    """A non-stream request through the SDK: (completion as the client sees it, response headers)."""
    body.setdefault("model", "gpt-test")
    body.setdefault("messages", HI)
    extra = {k: body.pop(k) for k in ("caching", "cache", "num_retries", "fallbacks") if k in body}
    raw = client.chat.completions.with_raw_response.create(**body, extra_body=extra or None, extra_headers=headers)
    return raw.parse().model_dump(exclude_unset=True), raw.headers


def stream(
    gateway: UvicornThread, body: dict[str, Any], *, key: str = MASTER_KEY, headers: dict[str, str] | None = None
) -> tuple[list[dict[str, Any]], httpx.Headers]:
    """A stream request over raw HTTP: every frame schema-checked, must end in [DONE]."""
    payload = {"model": "gpt-test", "messages": HI, "stream": True, **body}
    with httpx.stream(
        "POST",
        gateway.base_url + "/v1/chat/completions",
        json=payload,
        headers={"authorization": f"Bearer {key}", **(headers or {})},
        timeout=30,
    ) as response:
        assert response.status_code == 200, response.read()
        messages = parse_sse_lines(response.iter_lines())
    chunks, error = check_stream(messages)
    assert error is None, error
    return chunks, response.headers


class FaultyDynamoDB:
    """A real boto3 DynamoDB client (pointed at moto) with faults injected per operation, and timings."""

    def __init__(self, endpoint: str) -> None:
        import boto3
        from botocore.config import Config

        self.real = boto3.client(
            "dynamodb",
            endpoint_url=endpoint,
            region_name="us-east-1",
            config=Config(retries={"max_attempts": 1}, connect_timeout=2, read_timeout=10),
        )
        self.faults: dict[str, Callable[[], None]] = {}
        self.calls: Counter[str] = Counter()
        self.seconds: dict[str, list[float]] = {}

    def __call__(self, service: str, **_: Any) -> FaultyDynamoDB:
        """Stands in for ``AwsClients``."""
        assert service == "dynamodb"
        return self

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.real, name)
        if name.startswith("_") or not callable(attribute):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            fault = self.faults.get(name)
            if fault is not None:
                fault()
            started = time.perf_counter()
            try:
                return attribute(*args, **kwargs)
            finally:
                self.seconds.setdefault(name, []).append(time.perf_counter() - started)

        return call


def client_error(code: str, operation: str = "GetItem") -> Callable[[], None]:
    def fail() -> None:
        from botocore.exceptions import ClientError

        raise ClientError({"Error": {"Code": code, "Message": f"injected {code}"}}, operation)

    return fail


class Stall:
    """A table call that blocks until the test releases it: a table slower than any bound, with no clock
    in the test. ``returned`` counts the calls that got past it (a minute at most stops a hang)."""

    def __init__(self) -> None:
        self.released = threading.Event()
        self.returned = 0

    def __call__(self) -> None:
        self.released.wait(60)
        self.returned += 1


def unreachable() -> None:
    from botocore.exceptions import EndpointConnectionError

    raise EndpointConnectionError(endpoint_url="http://127.0.0.1:9")
