"""Gemini response -> OpenAI chat.completion, table-driven from tests/fixtures/gemini/responses/*.json."""

from __future__ import annotations

from pathlib import Path

import pytest

from llm_gateway.errors import GatewayError
from llm_gateway.providers.gemini.response import parse_completion
from tests.support.openai_schema import assert_completion
from tests.unit.providers.gemini.helpers import fixtures, load, make_call

CREATED = 1_700_000_000


@pytest.mark.parametrize("path", fixtures("responses"), ids=lambda p: p.stem)
def test_recorded_response_maps_exactly(path: Path) -> None:
    case = load(path)
    call = make_call({"model": "gem", "messages": [{"role": "user", "content": "hi"}]})
    if "error" in case:
        with pytest.raises(GatewayError) as caught:
            parse_completion(call, case["gemini"], CREATED)
        assert caught.value.status_code == case["error"]["status"]
        assert caught.value.code == case["error"]["code"]
        return
    out = parse_completion(call, case["gemini"], CREATED)
    assert_completion(out)
    expected = case["openai"]
    if expected["id"] == "<generated>":
        assert out["id"].startswith("chatcmpl-") and len(out["id"]) > len("chatcmpl-") + 16
        out["id"] = "<generated>"
    assert out == expected


@pytest.mark.parametrize(
    "data",
    [[], {"candidates": []}, {"candidates": ["x"]}, {"usageMetadata": {"promptTokenCount": 1}}],
    ids=["list", "no-candidates", "bad-candidate", "usage-only"],
)
def test_garbage_is_a_502_bad_response(data: object) -> None:
    call = make_call({"model": "gem", "messages": [{"role": "user", "content": "hi"}]})
    with pytest.raises(GatewayError) as caught:
        parse_completion(call, data, CREATED)
    assert caught.value.status_code == 502
    assert caught.value.code == "upstream_bad_response"


def test_tool_call_ids_are_stable_for_the_same_upstream_response() -> None:
    case = load(fixtures("responses")[[p.stem for p in fixtures("responses")].index("parallel_function_calls")])
    call = make_call({"model": "gem", "messages": [{"role": "user", "content": "hi"}]})
    first = parse_completion(call, case["gemini"], CREATED)
    second = parse_completion(call, case["gemini"], CREATED)
    ids = [c["id"] for c in first["choices"][0]["message"]["tool_calls"]]
    assert ids == [c["id"] for c in second["choices"][0]["message"]["tool_calls"]]
    assert len(set(ids)) == 3 and all(i.startswith("call_") for i in ids)


def test_an_error_object_in_a_200_body_is_mapped_like_an_http_error() -> None:
    call = make_call({"model": "gem", "messages": [{"role": "user", "content": "hi"}]})
    data = {"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}}
    with pytest.raises(GatewayError) as caught:
        parse_completion(call, data, CREATED)
    assert caught.value.status_code == 503 and caught.value.code == "upstream_overloaded"


def test_parallel_tool_calls_false_keeps_the_first_call_of_the_answer() -> None:
    from llm_gateway.providers.gemini.response import parse_completion
    from tests.unit.providers.gemini.helpers import make_call

    parts = [{"functionCall": {"name": "a", "args": {"x": 1}}}, {"functionCall": {"name": "b", "args": {}}}]
    data = {"candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "index": 0}]}
    body = {"model": "gem", "messages": [{"role": "user", "content": "hi"}], "parallel_tool_calls": False}
    out = parse_completion(make_call(body), data, 1)
    assert [c["function"]["name"] for c in out["choices"][0]["message"]["tool_calls"]] == ["a"]
    assert out["choices"][0]["finish_reason"] == "tool_calls"
