"""Recorded ``streamGenerateContent?alt=sse`` bodies -> OpenAI chunks (tests/fixtures/gemini/streams)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from llm_gateway.errors import GatewayError
from llm_gateway.providers.gemini.stream import GeminiStreamMapper
from llm_gateway.providers.sse import SSEDecoder
from tests.support.openai_schema import assert_chunk
from tests.unit.providers.gemini.helpers import fixtures, load, make_call

CREATED = 1_700_000_000


def run(raw: bytes, *, piece: int, want_usage: bool = True) -> tuple[list[dict[str, Any]], GatewayError | None]:
    """Feed the body in ``piece``-byte slices, like a network would; collect chunks until an error."""
    call = make_call({"model": "gem", "messages": [{"role": "user", "content": "hi"}]}, want_usage=want_usage)
    mapper = GeminiStreamMapper(call, CREATED)
    decoder = SSEDecoder()
    chunks: list[dict[str, Any]] = []
    try:
        for start in range(0, len(raw), piece):
            for event in decoder.feed(raw[start : start + piece]):
                chunks += mapper.feed(event.event, event.data)
        for event in decoder.close():
            chunks += mapper.feed(event.event, event.data)
        chunks += mapper.finish()
    except GatewayError as error:
        return chunks, error
    return chunks, None


@pytest.mark.parametrize("piece", [7, 1 << 20], ids=["7-byte-reads", "whole-body"])
@pytest.mark.parametrize("path", fixtures("streams", ".sse"), ids=lambda p: p.stem)
def test_recorded_stream_maps_exactly(path: Path, piece: int) -> None:
    expected = load(path.with_suffix(".expected.json"))
    chunks, error = run(path.read_bytes(), piece=piece)
    for chunk in chunks:
        assert_chunk(chunk)
    assert [c["choices"] for c in chunks] == expected["choices"]
    assert len({(c["id"], c["created"], c["model"]) for c in chunks}) <= 1  # one id/created/model per stream
    if "error" in expected:
        assert error is not None
        assert error.status_code == expected["error"]["status"]
        assert error.code == expected["error"]["code"]
        if "retry_after" in expected["error"]:
            assert error.retry_after == expected["error"]["retry_after"]
        return
    assert error is None
    assert all(c["usage"] is None for c in chunks[:-1])
    assert chunks[-1]["usage"] == expected["usage"]


def test_without_want_usage_there_is_no_usage_field_or_chunk() -> None:
    path = next(p for p in fixtures("streams", ".sse") if p.stem == "text_thinking_usage")
    chunks, error = run(path.read_bytes(), piece=64, want_usage=False)
    assert error is None
    assert all("usage" not in c for c in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


def test_empty_body_is_a_cut() -> None:
    chunks, error = run(b"", piece=64)
    assert chunks == [] and error is not None and error.code == "upstream_stream_cut"


@pytest.mark.parametrize(
    "frame", [b'data: {"candidates": [\r\n\r\n', b"data: [1, 2]\r\n\r\n"], ids=["truncated", "array"]
)
def test_malformed_frames_are_a_502(frame: bytes) -> None:
    _, error = run(frame, piece=64)
    assert error is not None and error.status_code == 502 and error.code == "upstream_bad_response"


def test_two_candidates_stream_interleaved_and_both_must_finish() -> None:
    def event(index: int, text: str, finish: str | None = None) -> bytes:
        candidate: dict[str, Any] = {"content": {"role": "model", "parts": [{"text": text}]}, "index": index}
        if finish:
            candidate["finishReason"] = finish
        import json

        return b"data: " + json.dumps({"candidates": [candidate], "responseId": "r2"}).encode() + b"\r\n\r\n"

    body = event(0, "A") + event(1, "B") + event(0, "a", "STOP")
    chunks, error = run(body, piece=64)
    assert error is not None and error.code == "upstream_stream_cut"  # candidate 1 never finished
    chunks, error = run(body + event(1, "b", "MAX_TOKENS"), piece=64)
    assert error is None
    finishes = {c["choices"][0]["index"]: c["choices"][0]["finish_reason"] for c in chunks if c["choices"]}
    assert finishes == {0: "stop", 1: "length"}
