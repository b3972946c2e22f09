"""The OpenAI-compatible pass-through holds any server to OpenAI's shape, by rule: each class of deviation
seen on real servers, fed through the stream mapper and the body check as a server sends it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from llm_gateway.config import DeploymentConfig
from llm_gateway.providers.base import Deployment, ProviderCall
from llm_gateway.providers.openai_compat.stream import OpenAIStreamMapper, check_completion
from llm_gateway.schemas.validation import validate_chat_request
from tests.support.openai_wire import check_completion_shape, check_stream_shape
from tests.support.sse import assemble


def _call() -> ProviderCall:
    request = validate_chat_request({"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True})
    config = DeploymentConfig(name="m", provider="openai", model="up-model")
    deployment = Deployment(id="m#0", group="m", provider="openai", model="up-model", config=config)
    return ProviderCall(deployment=deployment, request=request, body=request.upstream_body(), request_id="req1")


def _stream(frames: list[dict[str, Any]], done: bool = True) -> list[dict[str, Any]]:
    mapper = OpenAIStreamMapper(_call(), now=1_700_000_000)
    out: list[dict[str, Any]] = []
    for frame in frames:
        out += mapper.feed(None, json.dumps(frame))
    out += mapper.feed(None, "[DONE]") if done else mapper.finish()
    return out


def _client_view(chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What the client gets with include_usage (the gateway adds ``usage: null`` on the way out)."""
    return [c if "usage" in c else {**c, "usage": None} for c in chunks]


def _chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, Any]:
    base = {"id": "abc", "object": "chat.completion.chunk", "created": 1769088720, "model": "srv-model"}
    return {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}


USAGE = {"prompt_tokens": 13, "completion_tokens": 8, "total_tokens": 21}


def test_usage_in_the_finish_chunk_moves_to_a_last_chunk_of_its_own() -> None:
    frames = [
        _chunk({"role": "assistant", "content": ""}),
        _chunk({"content": "Hello"}),
        _chunk({"content": ""}, "stop", usage={**USAGE, "queue_time": 0.04, "prompt_time": 0.003}),
    ]
    out = _stream(frames)
    check_stream_shape(_client_view(out), include_usage=True)
    assert out[-1]["choices"] == [] and out[-1]["usage"] == USAGE
    assert out[-2]["choices"][0]["finish_reason"] == "stop" and "usage" not in out[-2]


def test_without_done_a_finished_stream_still_ends_with_its_usage() -> None:
    out = _stream([_chunk({"role": "assistant", "content": "x"}), _chunk({}, "stop", usage=USAGE)], done=False)
    assert out[-1]["usage"] == USAGE


def test_cache_counters_wherever_the_server_put_them_land_in_prompt_tokens_details() -> None:
    usage = {**USAGE, "prompt_cache_hit_tokens": 5, "prompt_cache_miss_tokens": 8, "cache_creation_input_tokens": 2}
    out = _stream([_chunk({"role": "assistant", "content": "x"}, "stop", usage=usage)])
    assert out[-1]["usage"]["prompt_tokens_details"] == {"cached_tokens": 5, "cache_write_tokens": 2}


def test_azure_content_filter_chunks_are_dropped() -> None:
    azure = {"choices": [], "created": 0, "id": "", "model": "", "object": "", "prompt_filter_results": [{}]}
    out = _stream([azure, _chunk({"role": "assistant", "content": "Hi"}), _chunk({}, "stop")])
    check_stream_shape(out, include_usage=False)
    assert assemble(out)[0]["content"] == "Hi"


def test_mistral_thinking_parts_become_reasoning_content() -> None:
    frames = [
        _chunk({"role": "assistant", "content": ""}),
        _chunk({"content": [{"type": "thinking", "thinking": [{"type": "text", "text": "Let me think"}]}]}),
        _chunk({"content": [{"type": "text", "text": "Answer"}]}),
        _chunk({"content": "!"}, "stop"),
    ]
    out = _stream(frames)
    check_stream_shape(out, include_usage=False)
    joined = assemble(out)[0]
    assert (joined["reasoning_content"], joined["content"]) == ("Let me think", "Answer!")


def test_mistral_typed_content_in_a_body_is_folded() -> None:
    body = {
        "id": "x",
        "object": "chat.completion",
        "created": 1,
        "model": "magistral",
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {
                    "role": "assistant",
                    "tool_calls": None,
                    "content": [
                        {"type": "thinking", "thinking": [{"type": "text", "text": "hm"}]},
                        {"type": "text", "text": "ok"},
                    ],
                },
            }
        ],
        "usage": USAGE,
    }
    out = check_completion(_call(), body, 1_700_000_000)
    check_completion_shape(out)
    message = out["choices"][0]["message"]
    assert (message["content"], message["reasoning_content"]) == ("ok", "hm") and "tool_calls" not in message


def test_tool_call_deltas_are_numbered_from_zero_with_id_type_and_name_first() -> None:
    frames = [
        _chunk({"role": "assistant", "content": None}),
        # the only call numbered 1, without type; the name and id repeated on the next delta
        _chunk({"tool_calls": [{"index": 1, "id": "c1", "function": {"name": "weather", "arguments": ""}}]}),
        _chunk({"tool_calls": [{"index": 1, "id": "c1", "function": {"name": "weather", "arguments": '{"city":'}}]}),
        # no index at all: continues the last call
        _chunk({"tool_calls": [{"function": {"arguments": '"Paris"}'}}]}),
        # a second call reusing index 1, told apart by its id, arguments as an object
        _chunk({"tool_calls": [{"index": 1, "id": "c2", "function": {"name": "time", "arguments": {"tz": "CET"}}}]}),
        _chunk({}, "tool_calls"),
    ]
    out = _stream(frames)
    check_stream_shape(out, include_usage=False)
    calls = assemble(out)[0]["tool_calls"]
    assert calls == {
        0: {"id": "c1", "name": "weather", "arguments": '{"city":"Paris"}'},
        1: {"id": "c2", "name": "time", "arguments": '{"tz":"CET"}'},
    }


def test_a_call_without_id_gets_one() -> None:
    out = _stream(
        [_chunk({"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": "{}"}}]}, "tool_calls")]
    )
    check_stream_shape(out, include_usage=False)
    assert out[0]["choices"][0]["delta"]["tool_calls"][0]["id"].startswith("call_")


def test_first_delta_gets_the_role_and_later_ones_lose_it() -> None:
    out = _stream([_chunk({"content": "a"}), _chunk({"role": "assistant", "content": "b"}), _chunk({}, "stop")])
    check_stream_shape(out, include_usage=False)


@pytest.mark.parametrize(
    ("sent", "mapped"),
    [("end_turn", "stop"), ("max_tokens", "length"), ("eos", "stop"), ("tool_use", "tool_calls"), ("weird", "stop")],
)
def test_finish_reasons_outside_openais_five_are_mapped(sent: str, mapped: str) -> None:
    out = _stream([_chunk({"content": "a"}, sent)])
    assert out[0]["choices"][0]["finish_reason"] == mapped


def test_identity_is_one_per_stream_and_enums_stay_in_openais_schema() -> None:
    frames = [
        {**_chunk({"content": "a"}), "id": "", "created": 0, "system_fingerprint": None, "service_tier": "on_demand"},
        {**_chunk({}, "stop"), "id": "other", "created": 5, "model": "changed"},
    ]
    out = _stream(frames)
    check_stream_shape(out, include_usage=False)
    assert out[0]["id"] == "chatcmpl-req1" and out[0]["created"] == 1_700_000_000 and out[0]["model"] == "srv-model"
    assert "system_fingerprint" not in out[0] and "service_tier" not in out[0]


def test_a_body_with_provider_enums_and_null_fields_is_held_to_the_schema() -> None:
    body = {
        "id": "x",
        "object": "chat.completion",
        "created": 1,
        "model": "llama",
        "service_tier": "on_demand",
        "system_fingerprint": None,
        "choices": [
            {
                "index": 0,
                "finish_reason": "tool_calls",
                "message": {"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": {"a": 1}}}]},
            }
        ],
        "usage": {**USAGE, "queue_time": 0.1},
    }
    out = check_completion(_call(), body, 1_700_000_000)
    check_completion_shape(out)
    assert "service_tier" not in out and "system_fingerprint" not in out and out["usage"] == USAGE
    call = out["choices"][0]["message"]["tool_calls"][0]
    assert call["type"] == "function" and call["id"].startswith("call_") and call["function"]["arguments"] == '{"a":1}'


def test_a_usage_report_with_null_choices_is_the_usage_chunk() -> None:
    out = _stream([_chunk({"content": "a"}, "stop"), {"id": "abc", "choices": None, "usage": USAGE}])
    assert out[-1]["choices"] == [] and out[-1]["usage"] == USAGE


def test_usage_reported_only_inside_a_vendor_object_is_found() -> None:
    out = _stream([_chunk({"content": "a"}, "stop", x_groq={"id": "req_1", "usage": {**USAGE, "queue_time": 0.1}})])
    assert out[-1]["usage"] == USAGE
