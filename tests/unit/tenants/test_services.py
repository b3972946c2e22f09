"""The authenticator's cache and failure modes, and the stores' outages, without a network."""

from __future__ import annotations

import time

import pytest

from llm_gateway.errors import AuthenticationError, ServiceUnavailableError
from llm_gateway.tables.base import Tables
from llm_gateway.tables.memory import MemoryTable
from llm_gateway.tenants.authenticator import KeyAuthenticator, env_master_key
from llm_gateway.tenants.keystore import KeyStore
from tests.support.tenants import ManualClock, make_key


class BrokenTable(MemoryTable):
    async def get(self, pk: str, sk: str, *, consistent: bool = False) -> None:
        raise ConnectionError("table unreachable")


async def test_lookups_are_cached_for_the_configured_time() -> None:
    wall, monotonic = ManualClock(), ManualClock(now=0)
    store = KeyStore(MemoryTable())
    secret, key_id = make_key(store, now=wall(), rpm=5, guardrails=("pii_redaction",))
    auth = KeyAuthenticator(env_master_key("m"), store, clock=wall, monotonic=monotonic, cache_seconds=5)
    principal = await auth.authenticate(secret)
    assert (principal.key_id, principal.rpm, principal.guardrails, principal.is_master) == (
        key_id,
        5,
        ("pii_redaction",),
        False,
    )
    await auth.authenticate(secret)
    assert auth.lookups == 1
    await store.revoke(key_id, now=wall())
    monotonic.advance(4.9)
    assert (await auth.authenticate(secret)).key_id == key_id
    monotonic.advance(0.2)
    with pytest.raises(AuthenticationError, match="revoked"):
        await auth.authenticate(secret)
    assert auth.lookups == 2
    assert (await auth.authenticate("m")).is_master
    with pytest.raises(AuthenticationError) as missing:
        await auth.authenticate(None)
    assert missing.value.code == "missing_api_key"


async def test_an_unreachable_key_store_is_a_503_not_a_500() -> None:
    auth = KeyAuthenticator(
        env_master_key("m"), KeyStore(BrokenTable()), clock=ManualClock(), monotonic=ManualClock(), cache_seconds=5
    )
    with pytest.raises(ServiceUnavailableError) as raised:
        await auth.authenticate("sk-lg-whatever")
    assert raised.value.code == "store_unavailable"
    assert "sk-lg" not in raised.value.message
    assert (await auth.authenticate("m")).is_master  # the master key still works


async def test_an_unreachable_state_table_is_a_503() -> None:
    from llm_gateway.tenants.ratelimit import Quota, RateLimiter

    class Unreachable(MemoryTable):
        async def update(self, *args: object, **kwargs: object) -> dict[str, object]:
            raise ConnectionError("endpoint unreachable")

    limiter = RateLimiter(Unreachable(), ManualClock(), sliding=False)
    with pytest.raises(ServiceUnavailableError) as raised:
        await limiter.admit("key#k", Quota(rpm=1), 1)
    assert raised.value.status_code == 503 and raised.value.response_headers() == {"retry-after": "1"}


async def test_master_key_from_a_secret_reference() -> None:
    from llm_gateway.gateway import Gateway, GatewayOptions
    from tests.support.gateway import openai_config

    def gateway(env: dict[str, str]) -> Gateway:
        from llm_gateway.config import parse_config

        options = GatewayOptions(
            config=parse_config(openai_config("http://127.0.0.1:9")),
            env=env,
            tables=Tables(keys=MemoryTable(), state=MemoryTable(), usage=MemoryTable()),
        )
        return Gateway(options).ensure_ready()

    ready = gateway({"LLM_GATEWAY_MASTER_KEY_REF": "env:STORED_KEY", "STORED_KEY": "sk-from-store"})
    assert (await ready.authenticator.authenticate("sk-from-store")).is_master
    broken = gateway({"LLM_GATEWAY_MASTER_KEY_REF": "env:MISSING_KEY"})
    with pytest.raises(ServiceUnavailableError) as raised:
        await broken.authenticator.authenticate("sk-anything")
    assert raised.value.code == "master_key_unavailable"
    # virtual keys keep working while the master key cannot be loaded
    secret, key_id = make_key(broken.tenants.keys, now=time.time())  # type: ignore[arg-type]
    assert (await broken.authenticator.authenticate(secret)).key_id == key_id


async def test_every_key_report_lists_keys_instead_of_scanning_usage() -> None:
    from llm_gateway.tenants.report import spend_report
    from llm_gateway.tenants.spend import SpendStore, UsageRecord

    class NoScan(MemoryTable):
        async def scan(self, pk_prefix: str) -> list[dict[str, object]]:
            raise AssertionError("the usage table must not be scanned")

    clock = ManualClock()
    keys = KeyStore(MemoryTable())
    _, key_id = make_key(keys, now=clock())
    spend = SpendStore(NoScan())
    for who in (key_id, "master"):
        await spend.record(UsageRecord("r-" + who, who, "m", "d", 10, 5, 0, 0.5, 1.0, clock()), budget_period="monthly")
    report = await spend_report(spend, None, period="daily", start=None, end=None, now=clock(), keys=keys)
    assert {(row["key_id"], row["requests"]) for row in report["data"]} == {(key_id, 1), ("master", 1)}
    assert report["total_cost_usd"] == 1.0


@pytest.mark.parametrize("policy", ["allow", "refuse"])
async def test_limits_when_the_state_store_is_down(policy: str) -> None:
    from typing import Any

    from llm_gateway.config import parse_config
    from llm_gateway.core.context import Principal, RequestContext
    from llm_gateway.core.pipeline import ChatHandler, OpenedStream
    from llm_gateway.gateway import Gateway, GatewayOptions
    from llm_gateway.schemas.validation import ChatRequest, validate_chat_request
    from llm_gateway.tenants.layer import TenantLayer
    from tests.support.gateway import openai_config

    class Down(MemoryTable):
        async def get(self, pk: str, sk: str, *, consistent: bool = False) -> None:
            raise ConnectionError("endpoint unreachable")

        async def update(self, *args: object, **kwargs: object) -> dict[str, object]:
            raise ConnectionError("endpoint unreachable")

    class Answer(ChatHandler):
        async def complete(self, request: ChatRequest, ctx: RequestContext) -> dict[str, Any]:
            return {"id": "x", "object": "chat.completion", "choices": [], "usage": {"prompt_tokens": 1}}

        async def open_stream(self, request: ChatRequest, ctx: RequestContext) -> OpenedStream:
            raise NotImplementedError

    config = {**openai_config("http://127.0.0.1:9"), "tenants": {"limits_when_store_down": policy}}
    options = GatewayOptions(
        config=parse_config(config), env={}, tables=Tables(keys=MemoryTable(), state=Down(), usage=Down())
    )
    gateway = Gateway(options).ensure_ready()
    layer = TenantLayer(Answer(), gateway.tenants, gateway.groups)
    request = validate_chat_request({"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]})
    ctx = RequestContext("r", Principal(key_id="k", rpm=5, budget_usd=1.0), deadline=time.monotonic() + 30)
    if policy == "refuse":
        with pytest.raises(ServiceUnavailableError):
            await layer.complete(request, ctx)
        return
    assert (await layer.complete(request, ctx))["id"] == "x"
    assert ctx.notes["limits"] == "store_unavailable" and ctx.notes["budget"] == "store_unavailable"
    # the usage writes fail too: logged, never raised, and kept for the next flush (nothing dropped)
    assert not await gateway.tenants.flush_usage()
    assert gateway.tenants.ledger.stats.failures >= 1 and gateway.tenants.ledger.pending
