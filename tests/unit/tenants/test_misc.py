from __future__ import annotations

import json
from typing import Any

import pytest
from aws_lambda_powertools.metrics import Metrics

from llm_gateway.config import ConfigError, parse_config
from llm_gateway.telemetry.metrics import metrics_enabled, request_figures, request_metrics
from llm_gateway.tenants.config import Price
from llm_gateway.tenants.pricing import PriceTable, Tokens
from llm_gateway.tenants.records import new_key, successor
from llm_gateway.tenants.spend import period_days, period_label

NOW = 1_764_000_000.0  # Monday 2025-11-24 16:00 UTC


@pytest.mark.parametrize(
    ("period", "label", "days"),
    [
        ("daily", "2025-11-24", ("2025-11-24", "2025-11-24")),
        ("weekly", "2025-W48", ("2025-11-24", "2025-11-30")),
        ("monthly", "2025-11", ("2025-11-01", "2025-11-30")),
        ("total", "total", ("1970-01-01", "9999-12-31")),
    ],
)
def test_periods(period: str, label: str, days: tuple[str, str]) -> None:
    assert period_label(period, NOW) == label
    assert period_days(period, NOW) == days


def test_price_table_prefers_the_deployment_and_bills_cached_tokens() -> None:
    prices = PriceTable({"group": Price(input=1, output=2), "dep": Price(input=3, output=4, cached_input=0.5)})
    tokens = Tokens(prompt=1_000_000, completion=1_000_000, cached=500_000)
    assert prices.cost("dep", "group", tokens) == pytest.approx(1.5 + 0.25 + 4)
    assert prices.cost("other", "group", tokens) == pytest.approx(1 + 2)
    assert prices.cost("other", "nothing", tokens) is None
    assert Tokens.from_usage({"prompt_tokens": 5, "completion_tokens": 2, "prompt_tokens_details": None}) == Tokens(
        5, 2
    )


def test_keys_store_only_a_hash_and_rotation_keeps_the_id() -> None:
    secret, record = new_key(owner="a", now=NOW)
    assert secret not in json.dumps(record.to_public())
    assert record.prefix == secret[:10]
    new_secret, fresh, retired = successor(record, now=NOW, grace_seconds=30)
    assert fresh.key_id == record.key_id and fresh.key_hash != record.key_hash and new_secret != secret
    assert retired.refusal(NOW + 29) is None
    assert retired.refusal(NOW + 31) == "This API key has expired."
    assert record.revoked(NOW).refusal(NOW) == "This API key has been revoked."


def test_request_figures_and_when_metrics_are_written() -> None:
    fields = {"status": 429, "latency_ms": 12.5, "cost_usd": 0.01, "cache": "hit", "fallbacks": ["b"], "model": "m"}
    values = request_metrics(fields)
    assert values["RateLimited"] == 1 and values["CacheHits"] == 1 and values["Fallbacks"] == 1
    assert values["Latency"] == 12.5 and values["ClientErrors"] == 1
    assert metrics_enabled(None, {"AWS_LAMBDA_FUNCTION_NAME": "f"}) and not metrics_enabled(None, {})
    assert metrics_enabled(None, {"LLM_GATEWAY_OBSERVABILITY": "powertools"})
    assert not metrics_enabled(False, {"AWS_LAMBDA_FUNCTION_NAME": "f"})


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"guardrails": {"defaults": ["nope"]}}, "guardrails.defaults names 'nope'"),
        ({"guardrails": {"definitions": {"d": {"type": "deny_list", "patterns": ["("]}}}}, "not a valid regular"),
        ({"guardrails": {"definitions": {"d": {"type": "deny_list"}}}}, "needs 'terms' or 'patterns'"),
        ({"tenants": {"prices": {"m": {"input": -1, "output": 1}}}}, "greater than or equal to 0"),
        ({"tenants": {"limits_window": "rolling"}}, "limits_window"),
    ],
)
def test_config_errors_are_loud(section: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config({"models": [{"name": "m", "provider": "mock", "model": "x"}], **section})


def _emf_documents(ctxs: list[Any], status: int, known: set[str]) -> list[dict[str, Any]]:
    from llm_gateway.aws.powertools import EmfRequestMetrics
    from llm_gateway.observability import request_fields

    lines: list[str] = []
    sink = EmfRequestMetrics(Metrics(namespace="Test", service="s"), lambda: known, request_figures, lines.append)
    for ctx in ctxs:
        sink(ctx, status, request_fields(ctx, status))
    return [json.loads(line) for line in lines]


def test_metrics_dimension_takes_only_configured_models() -> None:
    from llm_gateway.core.context import Principal, RequestContext

    ctxs = []
    for model in ("gpt-4o", "made-up-by-a-client", None):
        ctx = RequestContext(request_id="r", principal=Principal(key_id="k"), deadline=1e12)
        ctx.model_group = model
        ctx.notes["error_code"] = "insufficient_quota"
        ctxs.append(ctx)
    documents = _emf_documents(ctxs, 429, {"gpt-4o"})
    assert [d["model"] for d in documents] == ["gpt-4o", "other", "none"]
    assert all(d["BudgetExceeded"] == [1.0] and d["ClientErrors"] == [1.0] for d in documents)
    assert not any("RateLimited" in d for d in documents)


def test_one_emf_document_per_request_with_this_features_figures() -> None:
    from llm_gateway.core.context import Principal, RequestContext

    ctx = RequestContext(request_id="r", principal=Principal(key_id="key_1"), deadline=1e12)
    ctx.model_group = "gpt-4o"
    ctx.notes.update(cost_usd=0.0125, cache="hit", retries=1, fallbacks=0, guardrails="deny_list:passed")
    (document,) = _emf_documents([ctx], 200, {"gpt-4o"})
    assert document["CostUSD"] == [0.0125] and document["CacheHits"] == [1.0] and document["Retries"] == [1.0]
    assert document["Requests"] == [1.0] and document["key_id"] == "key_1" and document["request_id"] == "r"
    directive = document["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "Test"
    # per model, and the service alone: the totals over all models that the alarms read
    assert [sorted(dimensions) for dimensions in directive["Dimensions"]] == [["model", "service"], ["service"]]
    names = {m["Name"] for m in directive["Metrics"]}
    assert {"CostUSD", "CacheHits", "Retries", "Fallbacks", "Requests", "Latency"} <= names


async def test_a_usage_item_holds_copies_of_the_mappings_and_no_empty_fields() -> None:
    from dataclasses import fields

    from llm_gateway.tables.memory import MemoryTable
    from llm_gateway.tenants.spend import _MAPPING_FIELDS, SpendStore, UsageRecord

    assert {f.name for f in fields(UsageRecord) if str(f.type).startswith("Mapping")} == set(_MAPPING_FIELDS)
    metadata = {"team": "search"}
    record = UsageRecord(
        request_id="req_1",
        key_id="k1",
        model="m",
        deployment=None,
        prompt_tokens=3,
        completion_tokens=4,
        cached_tokens=0,
        cost_usd=0.5,
        latency_ms=12.0,
        timestamp=NOW,
        metadata=metadata,
    )
    table = MemoryTable()
    await SpendStore(table).record(record, budget_period="monthly")
    metadata["team"] = "changed later"
    (item,) = await table.query("usage#k1")
    assert item["metadata"] == {"team": "search"}
    assert "key_metadata" not in item and "deployment" not in item and "ttft_ms" not in item
    assert item["total_tokens"] == 7 and item["status"] == "ok" and item["stream"] is False
    assert await table.get("spend#k1", "period#monthly#2025-11") == {
        "pk": "spend#k1",
        "sk": "period#monthly#2025-11",
        "cost_usd": 0.5,
        "committed_nusd": 500_000_000,  # what budget reservations are checked against: the spend, plus holds
        "requests": 1,
        "prompt_tokens": 3,
        "completion_tokens": 4,
    }
