"""DynamoDB throttling, errors, unreachable endpoints and slowness never fail a request: it is served
as a miss, logged and counted; a table that keeps failing is skipped for a while."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator

import pytest

from tests.support.cache import FaultyDynamoDB, Stall, ask, cached_gateway, client_error, sdk, stream, unreachable
from tests.support.fake_openai import FakeOpenAI

pytestmark = pytest.mark.slow

# fault name -> (a factory of the injected failure, the kind it is counted as)
FAULTS: dict[str, tuple[Callable[[], Callable[[], None]], str]] = {
    "throttled": (lambda: client_error("ProvisionedThroughputExceededException"), "throttled"),
    "throttling": (lambda: client_error("ThrottlingException"), "throttled"),
    "internal error": (lambda: client_error("InternalServerError"), "error"),
    "access denied": (lambda: client_error("AccessDeniedException"), "error"),
    "unreachable": (lambda: unreachable, "error"),
    "slow": (Stall, "timeout"),  # held until the test is done: only the cache's own timeout lets it go
}
FAST = {"timeout": 0.3, "failure_threshold": 100}


@pytest.fixture
def dynamodb(moto_endpoint: str) -> FaultyDynamoDB:
    return FaultyDynamoDB(moto_endpoint)


@pytest.fixture
def cache_log() -> Iterator[list[logging.LogRecord]]:
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger("llm_gateway.cache")
    logger.addHandler(handler)
    yield records
    logger.removeHandler(handler)


@pytest.mark.parametrize("fault", FAULTS)
def test_failed_reads_are_misses(
    fake_openai: FakeOpenAI,
    cache_env: dict[str, str],
    dynamodb: FaultyDynamoDB,
    cache_log: list[logging.LogRecord],
    fault: str,
) -> None:
    make, kind = FAULTS[fault]
    inject = make()
    with cached_gateway(fake_openai, cache_env, aws_clients=dynamodb, cache=FAST) as gateway:
        client = sdk(gateway)
        ask(client)  # stored while the table is healthy
        dynamodb.faults["get_item"] = inject
        try:
            answer, headers = ask(client)
            assert headers["x-llm-gateway-cache"] == "miss"
            assert answer["choices"][0]["message"]["content"] == "Hello from the fake upstream."
            chunks, headers = stream(gateway, {})
            assert headers["x-llm-gateway-cache"] == "miss" and chunks
            # Both answered while a slow table still held both lookups: bounded by the cache's timeout.
            assert getattr(inject, "returned", 0) == 0
        finally:
            if isinstance(inject, Stall):
                inject.released.set()
        metrics = gateway.gateway.cache.metrics.snapshot()  # type: ignore[attr-defined]
    assert metrics[f"{kind}.lookup"] == 2
    assert len(fake_openai.chat_requests()) == 3
    assert any(r.getMessage().startswith(f"cache lookup failed ({kind})") for r in cache_log)


@pytest.mark.parametrize("fault", ["throttled", "internal error", "slow"])
def test_failed_writes_still_answer(
    fake_openai: FakeOpenAI, cache_env: dict[str, str], dynamodb: FaultyDynamoDB, fault: str
) -> None:
    make, kind = FAULTS[fault]
    inject = make()
    dynamodb.faults["put_item"] = inject
    with cached_gateway(fake_openai, cache_env, aws_clients=dynamodb, cache=FAST) as gateway:
        client = sdk(gateway)
        try:
            assert ask(client, cache={"no-cache": True})[0]["choices"][0]["message"]["content"]
            chunks, _ = stream(gateway, {"temperature": 0})
            assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
            ask(client, temperature=0.3)  # single flight's lease write fails too: the request leads alone
            assert getattr(inject, "returned", 0) == 0  # answered while the writes were still held
        finally:
            if isinstance(inject, Stall):
                inject.released.set()
        metrics = gateway.gateway.cache.metrics.snapshot()  # type: ignore[attr-defined]
    assert metrics[f"{kind}.store"] == 3
    assert "stored" not in metrics


def test_a_failing_table_is_skipped_for_a_while(
    fake_openai: FakeOpenAI, cache_env: dict[str, str], dynamodb: FaultyDynamoDB
) -> None:
    offset = [0.0]

    def monotonic() -> float:
        return time.monotonic() + offset[0]

    cache = {"timeout": 0.3, "failure_threshold": 2, "failure_cooldown": 30, "single_flight": {"enabled": False}}
    dynamodb.faults["get_item"] = client_error("ThrottlingException")
    with cached_gateway(fake_openai, cache_env, aws_clients=dynamodb, cache=cache, monotonic=monotonic) as gateway:
        client = sdk(gateway)
        ask(client, cache={"no-store": True})
        ask(client, cache={"no-store": True})
        calls = dynamodb.calls["get_item"]
        assert calls == 2
        answer, headers = ask(client)  # skipped: no DynamoDB call at all
        assert headers["x-llm-gateway-cache"] == "miss" and answer["choices"]
        assert dynamodb.calls["get_item"] == calls and dynamodb.calls["put_item"] == 0
        del dynamodb.faults["get_item"]
        offset[0] += 31
        ask(client)  # the cooldown is over: the table is used again
        assert dynamodb.calls["get_item"] == calls + 1 and dynamodb.calls["put_item"] == 1
        assert ask(client)[1]["x-llm-gateway-cache"] == "hit"
        metrics = gateway.gateway.cache.metrics.snapshot()  # type: ignore[attr-defined]
    assert metrics["skipped.opened"] == 1 and metrics["skipped.lookup"] == 1 and metrics["skipped.store"] == 1
