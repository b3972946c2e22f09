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


def _events(*responses: dict[str, Any]) -> bytes:
    import json

    return b"".join(f"data: {json.dumps(r)}\r\n\r\n".encode() for r in responses)


def _parts(*parts: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": list(parts)}, "index": 0}
    if finish:
        candidate["finishReason"] = finish
    return {"candidates": [candidate], "responseId": "resp-1", "modelVersion": "gemini-3-pro-preview"}


VERTEX_STREAMED_CALL = _events(
    _parts({"functionCall": {"name": "get_weather", "willContinue": True}, "thoughtSignature": "c2ln"}),
    _parts(
        {
            "functionCall": {
                "partialArgs": [{"jsonPath": "$.city", "stringValue": "Par", "willContinue": True}],
                "willContinue": True,
            }
        }
    ),
    _parts({"functionCall": {"partialArgs": [{"jsonPath": "$.city", "stringValue": "is"}], "willContinue": True}}),
    _parts(
        {
            "functionCall": {
                "partialArgs": [
                    {"jsonPath": "$.days", "numberValue": 3},
                    {"jsonPath": "$.units.metric", "boolValue": True},
                ],
                "willContinue": True,
            }
        }
    ),
    _parts({"functionCall": {}}),
    _parts({"functionCall": {"name": "get_time", "args": {"tz": "CET"}}}, finish="STOP"),
)


@pytest.mark.parametrize("piece", [5, 1 << 20])
def test_vertex_streamed_arguments_become_whole_named_calls(piece: int) -> None:
    from tests.support.sse import assemble

    chunks, error = run(VERTEX_STREAMED_CALL, piece=piece)
    assert error is None
    for chunk in chunks:
        assert_chunk(chunk)
        for call in chunk["choices"][0]["delta"].get("tool_calls", []) if chunk["choices"] else []:
            assert call["function"]["name"] and call["id"] and call["type"] == "function"
    choice = assemble(chunks)[0]
    import json

    calls = [(c["name"], json.loads(c["arguments"])) for c in choice["tool_calls"].values()]
    assert calls == [
        ("get_weather", {"city": "Paris", "days": 3, "units": {"metric": True}}),
        ("get_time", {"tz": "CET"}),
    ]
    assert "__ts_c2ln" in choice["tool_calls"][0]["id"]  # the signature rides on the id, as for whole calls
    assert choice["finish_reason"] == "tool_calls"


def test_parallel_tool_calls_false_keeps_the_first_call() -> None:
    from tests.support.sse import assemble

    body = {"model": "gem", "messages": [{"role": "user", "content": "hi"}], "parallel_tool_calls": False}
    mapper = GeminiStreamMapper(make_call(body), CREATED)
    decoder = SSEDecoder()
    chunks = [c for e in decoder.feed(VERTEX_STREAMED_CALL) + decoder.close() for c in mapper.feed(e.event, e.data)]
    choice = assemble(chunks + mapper.finish())[0]
    assert [c["name"] for c in choice["tool_calls"].values()] == ["get_weather"]
    assert choice["finish_reason"] == "tool_calls"
