"""One stored form for both wire formats: stream -> completion -> stream keeps the whole answer."""

from __future__ import annotations

import json
from typing import Any

import pytest

from llm_gateway.cache.answers import StreamAssembler, completion_chunks, is_complete, replayable
from tests.support.fake_openai import Reply, completion, stream_chunks
from tests.support.openai_schema import assert_chunk, assert_completion
from tests.support.sse import assemble

TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
CASES: dict[str, tuple[Reply, dict[str, Any]]] = {
    "text": (Reply(text="The quick brown fox."), {}),
    "tool calls": (
        Reply(tool_calls=[("get_weather", json.dumps({"city": "Paris"})), ("get_time", '{"tz": "CET"}')]),
        {"tools": TOOLS},
    ),
    "reasoning": (Reply(text="42.", reasoning="Think step by step."), {}),
    "two choices": (Reply(text="a b c"), {"n": 2}),
    "length": (Reply(text="cut", finish_reason="length"), {}),
}


def body(extra: dict[str, Any], include_usage: bool = True) -> dict[str, Any]:
    out = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True, **extra}
    if include_usage:
        out["stream_options"] = {"include_usage": True}
    return out


def assembled(chunks: list[dict[str, Any]]) -> dict[str, Any]:
    assembler = StreamAssembler()
    for chunk in chunks:
        assembler.feed(chunk)
    result = assembler.completion()
    assert result is not None
    return result


@pytest.mark.parametrize("case", CASES)
def test_stream_assembles_into_the_equivalent_completion(case: str) -> None:
    reply, extra = CASES[case]
    from_stream = assembled(stream_chunks(reply, body(extra)))
    assert_completion(from_stream)
    direct = completion(reply, body(extra))
    for got, want in zip(from_stream["choices"], direct["choices"], strict=True):
        assert got["finish_reason"] == want["finish_reason"]
        for name in ("content", "tool_calls", "reasoning_content"):
            assert got["message"].get(name) == want["message"].get(name), name
    assert from_stream["usage"] == direct["usage"]
    assert is_complete(from_stream, int(extra.get("n", 1)))


@pytest.mark.parametrize("include_usage", [True, False])
@pytest.mark.parametrize("case", CASES)
def test_replayed_chunks_are_valid_and_equal_in_content(case: str, include_usage: bool) -> None:
    reply, extra = CASES[case]
    original = stream_chunks(reply, body(extra))
    stored = assembled(original)
    assert replayable(stored)
    replayed = completion_chunks(stored, include_usage=include_usage)
    for chunk in replayed:
        assert_chunk(chunk)
    assert assemble(replayed) == assemble(original)
    assert replayed[-1]["choices"] == [] and replayed[-1]["usage"] == stored["usage"]
    assert all(("usage" in c) is include_usage for c in replayed[:-1])


def test_long_text_is_replayed_in_pieces() -> None:
    text = "word " * 2000
    stored = completion(Reply(text=text), body({}))
    replayed = completion_chunks(stored, include_usage=False)
    assert len(replayed) > 4
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in replayed if c["choices"]) == text


def test_logprobs_survive_both_ways() -> None:
    tokens = [{"token": t, "logprob": -0.1, "bytes": list(t.encode()), "top_logprobs": []} for t in ("a", "b")]
    chunks = [
        {"id": "x", "object": "chat.completion.chunk", "created": 1, "model": "m", "choices": [
            {"index": 0, "delta": {"role": "assistant", "content": "a"}, "logprobs": {"content": tokens[:1]},
             "finish_reason": None}]},
        {"id": "x", "object": "chat.completion.chunk", "created": 1, "model": "m", "choices": [
            {"index": 0, "delta": {"content": "b"}, "logprobs": {"content": tokens[1:]}, "finish_reason": "stop"}]},
    ]  # fmt: skip
    stored = assembled(chunks)
    assert stored["choices"][0]["logprobs"]["content"] == tokens
    again = assembled(completion_chunks(stored, include_usage=False))
    assert again["choices"] == stored["choices"]


def test_unfinished_or_failed_answers_are_not_complete() -> None:
    original = stream_chunks(Reply(text="a b"), body({}))
    without_finish = [c for c in original if not (c["choices"] and c["choices"][0]["finish_reason"])]
    assert not is_complete(assembled(without_finish), 1)
    filtered = completion(Reply(text="no", finish_reason="content_filter"), body({}))
    assert not is_complete(filtered, 1)
    two = completion(Reply(text="a"), body({"n": 2}))
    assert is_complete(two, 2) and not is_complete(two, 3)


def test_unknown_delta_fields_make_the_stream_unstorable() -> None:
    assembler = StreamAssembler()
    assembler.feed({"id": "x", "choices": [{"index": 0, "delta": {"audio": {"data": "AAA"}}, "finish_reason": None}]})
    assert assembler.completion() is None
    stored = completion(Reply(text="hi"), body({}))
    stored["choices"][0]["message"]["audio"] = {"id": "a", "data": "AAA"}
    assert not replayable(stored)
