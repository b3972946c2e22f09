"""Usage of streams the client leaves early, and of answers served from the gateway's cache."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from llm_gateway.config import parse_config
from llm_gateway.core.context import Principal, RequestContext
from llm_gateway.core.pipeline import ChatHandler, OpenedStream, replay
from llm_gateway.gateway import Gateway, GatewayOptions
from llm_gateway.schemas.validation import ChatRequest, validate_chat_request
from llm_gateway.tables.base import Tables
from llm_gateway.tables.memory import MemoryTable
from llm_gateway.tenants.layer import TenantLayer
from tests.support.fake_openai import FakeOpenAI, Reply
from tests.support.gateway import MASTER_KEY, openai_config, running_gateway
from tests.support.tenants import (
    ManualClock,
    aws_clients,
    key_store,
    make_key,
    priced_config,
    query_usage,
    spend_store,
    usage_records,
)

pytestmark = pytest.mark.slow


def test_a_stream_the_client_leaves_is_billed_for_what_was_produced(
    fake_openai: FakeOpenAI, moto_endpoint: str, dynamodb_tables: dict[str, str]
) -> None:
    clock = ManualClock(now=time.time())
    secret, key_id = make_key(key_store(moto_endpoint, dynamodb_tables), now=clock(), tpm=100_000)
    words = " ".join(f"word{i}" for i in range(200))
    fake_openai.default = Reply(text=words, chunk_delay=0.02)
    with running_gateway(
        priced_config(openai_config(fake_openai.v1)),
        env=dynamodb_tables,
        aws_clients=aws_clients(moto_endpoint),
        clock=clock,
    ) as gw:
        body = {"model": "gpt-test", "stream": True, "messages": [{"role": "user", "content": "count"}]}
        with (
            httpx.Client(timeout=30) as client,
            client.stream(
                "POST", f"{gw.base_url}/v1/chat/completions", json=body, headers={"authorization": f"Bearer {secret}"}
            ) as answer,
        ):
            seen = 0
            for line in answer.iter_lines():
                seen += line.startswith("data:")
                if seen == 5:
                    break  # the client leaves mid-stream
        store = spend_store(moto_endpoint, dynamodb_tables)
        deadline = time.monotonic() + 20
        records: list[dict[str, Any]] = []
        while not records and time.monotonic() < deadline:
            time.sleep(0.1)
            records = usage_records(store, key_id, clock() - 60, clock() + 60)
    assert len(records) == 1
    record = records[0]
    assert record["status"] == "aborted"
    assert record["usage_estimated"] is True
    assert 4 <= record["completion_tokens"] < 200 // 2  # a few words of "wordN " at 4 chars a token
    assert record["prompt_tokens"] > 0
    assert record["cost_usd"] == pytest.approx((record["prompt_tokens"] * 2.5 + record["completion_tokens"] * 10) / 1e6)


class _NoUpstream(ChatHandler):
    """Stands in for the cache or idempotency layer: answers from storage and says so in ctx.notes."""

    usage = {"prompt_tokens": 100, "completion_tokens": 50, "total_tokens": 150}

    def __init__(self, note: str, value: str) -> None:
        self.note, self.value = note, value

    async def complete(self, request: ChatRequest, ctx: RequestContext) -> dict[str, Any]:
        ctx.notes[self.note] = self.value
        return {"id": "c", "object": "chat.completion", "choices": [], "usage": self.usage}

    async def open_stream(self, request: ChatRequest, ctx: RequestContext) -> OpenedStream:
        ctx.notes[self.note] = self.value
        return await replay([{"id": "c", "choices": [], "usage": self.usage}, {"id": "c", "choices": []}])


@pytest.mark.parametrize(("note", "value"), [("cache", "hit"), ("idempotency", "replayed")])
async def test_cache_hits_and_replays_cost_nothing_and_use_no_tokens(note: str, value: str) -> None:
    state, usage = MemoryTable(), MemoryTable()
    clock = ManualClock()
    gateway = Gateway(
        GatewayOptions(
            config=parse_config(priced_config(openai_config("http://127.0.0.1:9"))),
            env={"LLM_GATEWAY_MASTER_KEY": MASTER_KEY},
            clock=clock,
            tables=Tables(state=state, usage=usage),
        )
    ).ensure_ready()
    layer = TenantLayer(_NoUpstream(note, value), gateway.tenants, gateway.groups)
    request = validate_chat_request({"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]})
    principal = Principal(key_id="key_x", tpm=1000, budget_usd=1.0)
    ctx = RequestContext(request_id="r1", principal=principal, deadline=time.monotonic() + 30)
    await layer.complete(request, ctx)
    opened = await layer.open_stream(request, RequestContext("r2", principal, time.monotonic() + 30))
    async for _ in opened.rest:
        pass
    await gateway.tenants.flush_usage()
    assert ctx.notes["cost_usd"] == 0.0
    records = await query_usage(gateway.tenants.spend, "key_x", clock() - 1, clock() + 1)
    flag = "cache_hit" if note == "cache" else "replayed"
    assert [(r[flag], r["cost_usd"], r["prompt_tokens"]) for r in records] == [(True, 0.0, 100)] * 2
    window = await state.get("rl#key#key_x", str(int(clock() // 60) * 60))
    assert window is not None and window["t"] == 0  # the estimate was given back: nothing reached an upstream
    assert await gateway.tenants.spend.current_spend("key_x", "monthly", clock()) == 0
