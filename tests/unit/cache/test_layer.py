"""The cache layer around a scripted inner handler (memory store): what the router does not cover."""

from __future__ import annotations

import time
from typing import Any

from llm_gateway.cache.config import CacheConfig
from llm_gateway.cache.layer import CacheLayer
from llm_gateway.cache.response_cache import ResponseCache
from llm_gateway.cache.store import memory_cache_store
from llm_gateway.core.context import Principal, RequestContext
from llm_gateway.core.pipeline import ChatHandler, OpenedStream, replay
from llm_gateway.schemas.validation import ChatRequest, validate_chat_request
from tests.support.fake_openai import Reply, completion, stream_chunks


class Answering(ChatHandler):
    """Answers every request; ``group`` is the model group the 'router' ends up using."""

    def __init__(self, group: str = "m") -> None:
        self.group = group
        self.calls = 0

    async def complete(self, request: ChatRequest, ctx: RequestContext) -> dict[str, Any]:
        self.calls += 1
        ctx.model_group = self.group
        return completion(Reply(text="answer"), request.body)

    async def open_stream(self, request: ChatRequest, ctx: RequestContext) -> OpenedStream:
        self.calls += 1
        ctx.model_group = self.group
        return await replay(stream_chunks(Reply(text="answer"), request.body))


def layer(inner: ChatHandler) -> CacheLayer:
    cache = ResponseCache(CacheConfig(mode="on"), memory_cache_store(), clock=time.time, monotonic=time.monotonic)
    return CacheLayer(inner, cache, model_known=lambda name: name == "m")


def context() -> RequestContext:
    return RequestContext(request_id="r", principal=Principal(key_id="k"), deadline=time.monotonic() + 60)


REQUEST = validate_chat_request({"model": "m", "messages": [{"role": "user", "content": "hi"}]})
STREAM = validate_chat_request(
    {
        "model": "m",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
)


async def drain(opened: OpenedStream) -> None:
    async for _ in opened.rest:
        pass


async def test_an_answer_from_a_fallback_group_is_not_stored() -> None:
    inner = Answering(group="fallback-group")
    cache = layer(inner)
    await cache.complete(REQUEST, context())
    await drain(await cache.open_stream(STREAM, context()))
    await cache.complete(REQUEST, context())
    assert inner.calls == 3
    assert cache.cache.metrics.get("not_stored.fallback") == 3


async def test_the_requested_group_is_stored() -> None:
    inner = Answering()
    cache = layer(inner)
    await drain(await cache.open_stream(STREAM, context()))
    ctx = context()
    answer = await cache.complete(REQUEST, ctx)
    assert inner.calls == 1 and ctx.notes["cache"] == "hit" and ctx.usage == answer["usage"]


async def test_unknown_models_and_forbidden_keys_bypass() -> None:
    inner = Answering()
    cache = layer(inner)
    await cache.complete(REQUEST, context())
    other = validate_chat_request({"model": "gone", "messages": [{"role": "user", "content": "hi"}]})
    ctx = context()
    await cache.complete(other, ctx)
    assert ctx.response_headers["x-llm-gateway-cache"] == "bypass"
    ctx = RequestContext(
        request_id="r",
        principal=Principal(key_id="k", allowed_models=frozenset({"x"})),
        deadline=time.monotonic() + 60,
    )
    await cache.complete(REQUEST, ctx)
    assert ctx.response_headers["x-llm-gateway-cache"] == "bypass" and inner.calls == 3
