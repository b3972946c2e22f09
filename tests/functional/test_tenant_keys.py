"""Virtual keys end to end: accepted, scoped to models, revoked within the cache time, rotated."""

from __future__ import annotations

import httpx
import pytest

from tests.support.fake_openai import FakeOpenAI
from tests.support.gateway import openai_config, running_gateway
from tests.support.openai_schema import assert_error
from tests.support.tenants import ManualClock, aws_clients, key_store, make_key

pytestmark = pytest.mark.slow

HELLO = [{"role": "user", "content": "hi"}]


def _chat(base_url: str, key: str, model: str = "gpt-test") -> httpx.Response:
    return httpx.post(
        f"{base_url}/v1/chat/completions",
        json={"model": model, "messages": HELLO},
        headers={"authorization": f"Bearer {key}"},
        timeout=30,
    )


def test_revoked_key_is_refused_within_the_cache_time(
    fake_openai: FakeOpenAI, moto_endpoint: str, dynamodb_tables: dict[str, str]
) -> None:
    wall = ManualClock()
    monotonic = ManualClock(now=1000.0)
    store = key_store(moto_endpoint, dynamodb_tables)
    secret, key_id = make_key(store, now=wall())
    config = {**openai_config(fake_openai.v1), "tenants": {"key_cache_seconds": 10}}
    options = {"aws_clients": aws_clients(moto_endpoint), "clock": wall, "monotonic": monotonic}
    with running_gateway(config, env=dynamodb_tables, **options) as gw:
        assert _chat(gw.base_url, secret).status_code == 200
        store.revoke(key_id, now=wall())
        monotonic.advance(9.5)  # still inside the documented 10 s: the cached lookup is reused
        assert _chat(gw.base_url, secret).status_code == 200
        monotonic.advance(0.6)  # 10.1 s after the lookup: refused
        refused = _chat(gw.base_url, secret)
        assert refused.status_code == 401
        error = assert_error(refused.json())["error"]
        assert error["code"] == "invalid_api_key"
        assert "revoked" in error["message"]


def test_expiry_applies_at_once_and_unknown_keys_are_refused(
    fake_openai: FakeOpenAI, moto_endpoint: str, dynamodb_tables: dict[str, str]
) -> None:
    wall = ManualClock()
    store = key_store(moto_endpoint, dynamodb_tables)
    secret, _ = make_key(store, now=wall(), expires_at=wall() + 30)
    with running_gateway(
        openai_config(fake_openai.v1), env=dynamodb_tables, aws_clients=aws_clients(moto_endpoint), clock=wall
    ) as gw:
        assert _chat(gw.base_url, secret).status_code == 200
        wall.advance(31)
        expired = _chat(gw.base_url, secret)
        assert expired.status_code == 401
        assert "expired" in expired.json()["error"]["message"]
        unknown = _chat(gw.base_url, "sk-lg-" + "x" * 40)
        assert unknown.status_code == 401
        assert unknown.json()["error"]["message"] == "Incorrect API key provided."


def test_key_limited_to_models(fake_openai: FakeOpenAI, moto_endpoint: str, dynamodb_tables: dict[str, str]) -> None:
    wall = ManualClock()
    secret, _ = make_key(key_store(moto_endpoint, dynamodb_tables), now=wall(), models=("other-model",))
    with running_gateway(
        openai_config(fake_openai.v1), env=dynamodb_tables, aws_clients=aws_clients(moto_endpoint), clock=wall
    ) as gw:
        refused = _chat(gw.base_url, secret)
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "model_not_allowed"
        assert fake_openai.chat_requests() == []


def test_rotation_keeps_the_id_and_honours_the_grace_period(
    fake_openai: FakeOpenAI, moto_endpoint: str, dynamodb_tables: dict[str, str]
) -> None:
    wall = ManualClock()
    store = key_store(moto_endpoint, dynamodb_tables)
    old, key_id = make_key(store, now=wall(), rpm=100)
    new, record = store.rotate(key_id, now=wall(), grace_seconds=60)
    assert record.key_id == key_id and record.rpm == 100 and new != old
    config = {**openai_config(fake_openai.v1), "tenants": {"key_cache_seconds": 0}}
    with running_gateway(config, env=dynamodb_tables, aws_clients=aws_clients(moto_endpoint), clock=wall) as gw:
        assert _chat(gw.base_url, new).status_code == 200
        assert _chat(gw.base_url, old).status_code == 200  # within the grace period
        wall.advance(61)
        assert _chat(gw.base_url, old).status_code == 401
        assert _chat(gw.base_url, new).status_code == 200
        store.revoke(key_id, now=wall())
        assert _chat(gw.base_url, new).status_code == 401


@pytest.mark.parametrize("header", ["authorization", "api-key"])
def test_master_key_still_works(
    fake_openai: FakeOpenAI, moto_endpoint: str, dynamodb_tables: dict[str, str], master_key: str, header: str
) -> None:
    value = f"Bearer {master_key}" if header == "authorization" else master_key
    with running_gateway(
        openai_config(fake_openai.v1), env=dynamodb_tables, aws_clients=aws_clients(moto_endpoint)
    ) as gw:
        answer = httpx.post(
            f"{gw.base_url}/v1/chat/completions", json={"model": "gpt-test", "messages": HELLO}, headers={header: value}
        )
        assert answer.status_code == 200


def test_master_key_from_an_injected_source(fake_openai: FakeOpenAI) -> None:
    async def from_secrets_manager() -> str | None:
        return "sk-from-the-secret-store"

    with running_gateway(openai_config(fake_openai.v1), master_key_source=from_secrets_manager) as gw:
        assert _chat(gw.base_url, "sk-from-the-secret-store").status_code == 200
        assert _chat(gw.base_url, "sk-test-master-key-0123456789").status_code == 401
