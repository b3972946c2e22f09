"""Streams: a miss is forwarded live and stored after a clean end; a hit is replayed as a valid stream
equal in content to the original. Stream and non-stream requests share entries."""

from __future__ import annotations

import json
import time
from contextlib import AbstractContextManager
from typing import Any

import httpx
import openai
import pytest

from tests.support.cache import HI, ask, cached_gateway, sdk, stream
from tests.support.fake_openai import CutStream, ErrorFrame, FakeOpenAI, Reply
from tests.support.gateway import MASTER_KEY
from tests.support.openai_schema import assert_completion
from tests.support.pacing import FirstBeforeLast
from tests.support.servers import UvicornThread
from tests.support.sse import assemble, iter_sse_lines

pytestmark = pytest.mark.slow

TOOLS = [
    {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}},
    {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object"}}},
]
CALLS = [("get_weather", json.dumps({"city": "Paris", "unit": "celsius"})), ("get_time", '{"tz": "Europe/Paris"}')]

REPLIES: dict[str, tuple[Reply, dict[str, Any]]] = {
    "text": (Reply(text="Hello there, this is a streamed answer."), {}),
    "tool calls": (Reply(tool_calls=CALLS), {"tools": TOOLS}),
    "reasoning": (Reply(text="It is 42.", reasoning="Let me think about it."), {}),
    "two choices": (Reply(text="one of two"), {"n": 2}),
}


@pytest.mark.parametrize("case", REPLIES)
def test_stream_hit_replays_the_original(fake_openai: FakeOpenAI, cache_env: dict[str, str], case: str) -> None:
    reply, extra = REPLIES[case]
    fake_openai.plan(reply)
    usage = {"stream_options": {"include_usage": True}}
    with cached_gateway(fake_openai, cache_env) as gateway:
        original, headers = stream(gateway, {**extra, **usage})
        assert headers["x-llm-gateway-cache"] == "miss"
        replayed, headers = stream(gateway, {**extra, **usage})
        assert headers["x-llm-gateway-cache"] == "hit" and "age" in headers
        plain, _ = stream(gateway, extra)  # no include_usage: no usage chunk, no usage fields
    assert len(fake_openai.chat_requests()) == 1
    assert assemble(replayed) == assemble(original)
    assert assemble(plain) == assemble(original)
    assert replayed[-1]["choices"] == [] and replayed[-1]["usage"] == original[-1]["usage"]
    assert all(c.get("usage") is None for c in replayed[:-1])
    assert all("usage" not in c and c["choices"] for c in plain)
    assert len({c["id"] for c in replayed}) == 1 and replayed[0]["id"] != original[0]["id"]
    if case == "tool calls":
        calls = assemble(replayed)[0]["tool_calls"]
        assert [(calls[i]["name"], calls[i]["arguments"]) for i in sorted(calls)] == CALLS


def open_stream(gateway: UvicornThread) -> AbstractContextManager[httpx.Response]:
    return httpx.stream(
        "POST",
        gateway.base_url + "/v1/chat/completions",
        json={"model": "gpt-test", "messages": HI, "stream": True},
        headers={"authorization": f"Bearer {MASTER_KEY}"},
    )


def test_stream_and_non_stream_share_entries(fake_openai: FakeOpenAI, cache_env: dict[str, str]) -> None:
    fake_openai.plan(Reply(tool_calls=CALLS), Reply(text="stored without streaming"))
    with cached_gateway(fake_openai, cache_env) as gateway:
        client = sdk(gateway)
        # stored from a stream, served without
        streamed, _ = stream(gateway, {"tools": TOOLS})
        answer, headers = ask(client, tools=TOOLS)
        assert headers["x-llm-gateway-cache"] == "hit"
        assert_completion(answer)
        message = answer["choices"][0]["message"]
        assert [(c["function"]["name"], c["function"]["arguments"]) for c in message["tool_calls"]] == CALLS
        assert answer["choices"][0]["finish_reason"] == "tool_calls"
        assert [c["id"] for c in message["tool_calls"]] == [
            streamed_call["id"] for _, streamed_call in sorted(assemble(streamed)[0]["tool_calls"].items())
        ]
        # stored without a stream, served as one
        answer, _ = ask(client, temperature=0)
        chunks, headers = stream(gateway, {"temperature": 0})
        assert headers["x-llm-gateway-cache"] == "hit"
        assert assemble(chunks)[0]["content"] == answer["choices"][0]["message"]["content"]
        assert assemble(chunks)[0]["finish_reason"] == "stop"
    assert len(fake_openai.chat_requests()) == 2


@pytest.mark.parametrize("fault", [CutStream(after=3), ErrorFrame(after=2)], ids=["cut", "error frame"])
def test_a_failed_stream_is_not_stored(fake_openai: FakeOpenAI, cache_env: dict[str, str], fault: Any) -> None:
    fake_openai.plan(fault)
    with cached_gateway(fake_openai, cache_env) as gateway:
        with open_stream(gateway) as response:
            body = response.read().decode()
        assert '"error"' in body and "[DONE]" not in body
        _, headers = stream(gateway, {})
        assert headers["x-llm-gateway-cache"] == "miss"
        metrics = gateway.gateway.cache.metrics.snapshot()  # type: ignore[attr-defined]
    assert metrics["not_stored.stream_error"] == 1 and metrics["stored"] == 1
    assert len(fake_openai.chat_requests()) == 2


def test_a_stream_the_client_abandons_is_not_stored(fake_openai: FakeOpenAI, cache_env: dict[str, str]) -> None:
    fake_openai.plan(Reply(text=" ".join(["word"] * 40), chunk_delay=0.05))
    with cached_gateway(fake_openai, cache_env) as gateway:
        with open_stream(gateway) as response:
            lines = response.iter_lines()
            next(lines)
            next(lines)
        deadline = time.monotonic() + 10
        metrics = gateway.gateway.cache.metrics  # type: ignore[attr-defined]
        while metrics.get("not_stored.stream_aborted") == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert metrics.get("not_stored.stream_aborted") == 1
        _, headers = stream(gateway, {})
        assert headers["x-llm-gateway-cache"] == "miss"


async def test_openai_sdk_streams_a_hit(fake_openai: FakeOpenAI, cache_env: dict[str, str]) -> None:
    fake_openai.plan(Reply(text="Streamed once, replayed after.", reasoning="thinking"))
    with cached_gateway(fake_openai, cache_env) as gateway:
        client = openai.AsyncOpenAI(base_url=gateway.base_url + "/v1", api_key=MASTER_KEY, max_retries=0)
        async with client:
            seen = []
            for _ in range(2):
                raw = await client.chat.completions.with_raw_response.create(
                    model="gpt-test", messages=HI, stream=True, stream_options={"include_usage": True}
                )
                chunks = [chunk async for chunk in raw.parse()]
                text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
                seen.append((raw.headers["x-llm-gateway-cache"], text, chunks[-1].usage))
    (miss, text, usage), (hit, replayed_text, replayed_usage) = seen
    assert (miss, hit) == ("miss", "hit")
    assert replayed_text == text == "Streamed once, replayed after."
    assert replayed_usage == usage and usage is not None
    assert len(fake_openai.chat_requests()) == 1


def test_a_stream_miss_is_forwarded_live(fake_openai: FakeOpenAI, cache_env: dict[str, str]) -> None:
    """The cache assembles on the side: chunks reach the client as the upstream sends them."""
    pacing = FirstBeforeLast()  # the upstream's last chunk waits until the client has the first word
    fake_openai.plan(Reply(text="one two three four five six", last_waits_for=pacing))
    with cached_gateway(fake_openai, cache_env) as gateway, open_stream(gateway) as response:
        messages = []
        for message in iter_sse_lines(response.iter_lines()):
            messages.append(message)
            if message.data != "[DONE]" and (message.json()["choices"] or [{}])[0].get("delta", {}).get("content"):
                pacing.client_has_first()
        assert response.headers["x-llm-gateway-cache"] == "miss"
    content = [m for m in messages if m.data != "[DONE]" and m.json()["choices"]]
    assert len(content) >= 6
    assert pacing.in_order  # a cache that buffered the miss would have held the first word back
