"""What a usage record looks like in the usage table: every set field, metadata copied, nothing empty."""

from __future__ import annotations

from llm_gateway.tables.memory import MemoryTable
from llm_gateway.tenants.spend import SpendStore, UsageRecord


async def test_the_stored_usage_record() -> None:
    table = MemoryTable()
    metadata = {"team": "search"}
    usage = UsageRecord(
        "req-1", "key-1", "gpt", None, 12, 30, 0, 0.25, 20.5, 1_764_100_800.0, metadata=metadata, user="u-7"
    )
    await SpendStore(table, record_ttl_days=1).record(usage, budget_period="monthly")
    metadata["team"] = "changed later"
    (item,) = await table.query("usage#key-1")
    assert item == {
        "pk": "usage#key-1",
        "sk": "2025-11-25T20:00:00.000+00:00#req-1",
        "request_id": "req-1",
        "key_id": "key-1",
        "model": "gpt",
        "prompt_tokens": 12,
        "completion_tokens": 30,
        "cached_tokens": 0,
        "cost_usd": 0.25,
        "latency_ms": 20.5,
        "timestamp": 1_764_100_800.0,
        "status": "ok",
        "stream": False,
        "cache_hit": False,
        "replayed": False,
        "usage_estimated": False,
        "priced": True,
        "user": "u-7",
        "metadata": {"team": "search"},
        "total_tokens": 42,
        "expires_at": 1_764_187_200,
    }
