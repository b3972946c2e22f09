"""Operator-chosen key ids cannot merge tenants (issue 17, item 2): the ids the gateway uses itself are
reserved, ids keep to a safe alphabet, and every scope is built from escaped parts, so a key stored before
the rule, whatever its id, never reads another tenant's cache entries or idempotent answers."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from typing import Any

import httpx
import pytest

from llm_gateway.cli.main import main
from llm_gateway.tables.dynamodb import DynamoTable, fixed_client
from llm_gateway.tenants.keystore import DIRECTORY, record_to_item
from llm_gateway.tenants.records import new_key
from tests.support.cache import cache_config
from tests.support.fake_openai import FakeOpenAI, Reply
from tests.support.gateway import MASTER_KEY, running_gateway
from tests.support.log_scan import remember_secret
from tests.support.tenants import ManualClock, aws_clients, dynamodb_client, key_store, make_key, run_sync

pytestmark = pytest.mark.slow

ORDER = [{"role": "user", "content": "place my order"}]
BODY = {"model": "gpt-test", "messages": [{"role": "user", "content": "my private question"}]}


def _chat(base_url: str, key: str, headers: dict[str, str] | None = None, **extra: Any) -> httpx.Response:
    return httpx.post(
        f"{base_url}/v1/chat/completions",
        json={**BODY, **extra},
        headers={"authorization": f"Bearer {key}", **(headers or {})},
        timeout=30,
    )


def _stored_before_the_rule(endpoint: str, tables: dict[str, str], key_id: str, now: float) -> str:
    """A key with ``key_id`` written straight into the keys table, as a gateway without the rule let it be."""
    secret, record = new_key(owner="mallory", now=now)
    record = replace(record, key_id=key_id)
    remember_secret(secret)
    table = DynamoTable(fixed_client(dynamodb_client(endpoint)), tables["LLM_GATEWAY_KEYS_TABLE"])
    index = {"pk": DIRECTORY, "sk": key_id, "key_hash": record.key_hash, "hashes": [record.key_hash]}
    run_sync(table.put(record_to_item(record)))
    run_sync(table.put(index))
    return secret


@pytest.mark.parametrize(
    "key_id", ["master", "Anonymous", "key_a/ns:docs", "a#b", "with space", "-lead", ".", "x" * 65]
)
def test_the_cli_refuses_a_key_id_outside_the_rule(
    key_id: str, moto_endpoint: str, dynamodb_tables: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    env = {**dynamodb_tables, "AWS_ENDPOINT_URL_DYNAMODB": moto_endpoint}
    assert main(["keys", "create", "--owner", "mallory", f"--key-id={key_id}"], env=env) == 2
    error = capsys.readouterr().err
    assert "--key-id" in error and "letters, digits" in error and "master" in error
    out = io.StringIO()
    assert main(["--json", "keys", "list"], env=env, out=out) == 0
    assert json.loads(out.getvalue()) == []


def test_the_cli_accepts_an_id_inside_the_rule(moto_endpoint: str, dynamodb_tables: dict[str, str]) -> None:
    env = {**dynamodb_tables, "AWS_ENDPOINT_URL_DYNAMODB": moto_endpoint}
    out = io.StringIO()
    assert main(["--json", "keys", "create", "--owner", "a", "--key-id", "team-search.v2_1"], env=env, out=out) == 0
    created = json.loads(out.getvalue())
    remember_secret(created["key"])
    assert created["key_id"] == "team-search.v2_1"


def test_a_key_named_master_gets_neither_the_masters_cache_nor_its_idempotent_answers(
    fake_openai: FakeOpenAI, moto_endpoint: str, dynamodb_tables: dict[str, str]
) -> None:
    clock = ManualClock()
    impostor = _stored_before_the_rule(moto_endpoint, dynamodb_tables, "master", clock())
    fake_openai.plan(Reply(text="the master's private answer"), Reply(text="the master's order"))
    config = {**cache_config(fake_openai), "tenants": {"key_cache_seconds": 0}}
    with running_gateway(config, env=dynamodb_tables, aws_clients=aws_clients(moto_endpoint), clock=clock) as gw:
        assert _chat(gw.base_url, MASTER_KEY).status_code == 200
        ordered = _chat(gw.base_url, MASTER_KEY, {"idempotency-key": "order-1"}, messages=ORDER)
        assert ordered.status_code == 200
        for headers, extra in (({}, {}), ({"idempotency-key": "order-1"}, {"messages": ORDER})):
            refused = _chat(gw.base_url, impostor, headers, **extra)
            assert refused.status_code == 401, refused.text
            error = refused.json()["error"]
            assert "reserved" in error["message"] and "x-llm-gateway-cache" not in refused.headers
            assert "private" not in refused.text and "order" not in refused.text
    assert len(fake_openai.chat_requests()) == 2


def test_a_key_id_with_separators_cannot_reach_another_keys_namespace(
    fake_openai: FakeOpenAI, moto_endpoint: str, dynamodb_tables: dict[str, str]
) -> None:
    clock = ManualClock()
    store = key_store(moto_endpoint, dynamodb_tables)
    victim, victim_id = make_key(store, now=clock())
    impostor = _stored_before_the_rule(moto_endpoint, dynamodb_tables, f"{victim_id}/ns:docs", clock())
    fake_openai.plan(Reply(text="the victim's docs answer"), Reply(text="the impostor's own answer"))
    config = {**cache_config(fake_openai), "tenants": {"key_cache_seconds": 0}}
    with running_gateway(config, env=dynamodb_tables, aws_clients=aws_clients(moto_endpoint), clock=clock) as gw:
        first = _chat(gw.base_url, victim, cache={"namespace": "docs"})
        assert first.status_code == 200 and first.headers["x-llm-gateway-cache"] == "miss"
        again = _chat(gw.base_url, victim, {"cache-control": "namespace=docs"})
        assert again.headers["x-llm-gateway-cache"] == "hit"  # the entry is there, for its owner
        other = _chat(gw.base_url, impostor)
        assert other.status_code == 200  # an old key with an odd id still works, in a scope of its own
        assert other.headers["x-llm-gateway-cache"] == "miss"
        assert other.json()["choices"][0]["message"]["content"] == "the impostor's own answer"
        # its spend is its own too, under its own id
        for key_id, requests in ((victim_id, 2), (f"{victim_id}/ns:docs", 1)):
            spend = httpx.get(
                f"{gw.base_url}/v1/spend", params={"key_id": key_id}, headers={"authorization": f"Bearer {MASTER_KEY}"}
            )
            assert spend.status_code == 200, spend.text
            assert spend.json()["total_requests"] == requests
            assert {row["key_id"] for row in spend.json()["data"]} == {key_id}
    assert len(fake_openai.chat_requests()) == 2
