"""Every real provider recording, replayed as the upstream's answer, reaches the client in OpenAI's exact
format: over real sockets both ways, read raw and through the official ``openai`` SDK (its stream helper
included), every object valid against OpenAI's schema, with the recording's text, reasoning, tool calls,
token counts and OpenAI's finish reason. The same for ``/v1/responses``: a valid ``Response`` (or event
stream, raw and through ``responses.stream``) with the recording's text, reasoning, function calls and
token counts (recordings made with ``web_search_options`` left out: the bridge refuses hosted web search)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.support.gateway import MASTER_KEY, running_gateway
from tests.support.openai_wire import check_completion_shape, check_stream_shape
from tests.support.recordings import (
    ROOT,
    Expected,
    Recording,
    RecordingUpstream,
    deployment_for,
    expected,
    recordings,
    request_for,
)
from tests.support.responses_schema import assert_events, assert_response
from tests.support.servers import UvicornThread
from tests.support.sse import check_stream, parse_sse_text

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not ROOT.is_dir(), reason="../shared/reference/recordings is not beside the repo"),
]

RECORDINGS = recordings() if ROOT.is_dir() else []


@pytest.fixture(scope="module")
def upstream() -> Iterator[RecordingUpstream]:
    server = RecordingUpstream()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def gateway(upstream: RecordingUpstream) -> Iterator[UvicornThread]:
    config = {"models": [deployment_for(r, upstream.base_url) for r in RECORDINGS]}
    with running_gateway(config) as server:
        yield server


@pytest.fixture
def sdk(gateway: UvicornThread) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.base_url + "/v1", api_key=MASTER_KEY, max_retries=0, timeout=30)


def _raw(gateway: UvicornThread, body: dict[str, Any]) -> httpx.Response:
    response = httpx.post(
        gateway.base_url + "/v1/chat/completions",
        json=body,
        headers={"authorization": f"Bearer {MASTER_KEY}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return response


def _check_message(
    recording: Recording, want: Expected, content: Any, reasoning: Any, calls: Any, finish: Any, usage: Any
) -> None:
    if recording.name == "anthropic-json-output-format.1":
        assert json.loads(content) == json.loads(want.text)
    else:
        assert (content or "") == want.text
    assert (reasoning or "") == want.reasoning
    got = [(c.id, c.function.name, json.loads(c.function.arguments or "{}")) for c in calls or []]
    assert [(name, args) for _, name, args in got] == [(name, args) for _, name, args in want.tool_calls]
    for (got_id, _, _), (want_id, _, _) in zip(got, want.tool_calls, strict=True):
        assert got_id and (want_id is None or got_id == want_id)
    assert len({call_id for call_id, _, _ in got}) == len(got), "tool-call ids are distinct"
    assert finish == want.finish_reason
    assert usage is not None
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (
        want.prompt_tokens,
        want.completion_tokens,
        want.total_tokens,
    )
    if want.cached_tokens is not None:
        assert usage.prompt_tokens_details is not None
        assert usage.prompt_tokens_details.cached_tokens == want.cached_tokens


NON_STREAM = [r for r in RECORDINGS if not r.stream]
STREAM = [r for r in RECORDINGS if r.stream]


@pytest.mark.parametrize("recording", NON_STREAM, ids=[r.id for r in NON_STREAM])
def test_completion_replays_in_openai_format(
    recording: Recording, upstream: RecordingUpstream, gateway: UvicornThread, sdk: openai.OpenAI
) -> None:
    upstream.serving = recording
    body = request_for(recording, recording.id)
    check_completion_shape(_raw(gateway, body).json())
    answer = sdk.chat.completions.create(**body)
    message = answer.choices[0].message
    want = expected(recording)
    reasoning = (message.model_extra or {}).get("reasoning_content")
    _check_message(
        recording, want, message.content, reasoning, message.tool_calls, answer.choices[0].finish_reason, answer.usage
    )


@pytest.mark.parametrize("recording", STREAM, ids=[r.id for r in STREAM])
def test_stream_replays_in_openai_format(
    recording: Recording, upstream: RecordingUpstream, gateway: UvicornThread, sdk: openai.OpenAI
) -> None:
    upstream.serving = recording
    want = expected(recording)
    body = {**request_for(recording, recording.id), "stream": True}
    for include_usage in (True, False):
        sent = {**body, "stream_options": {"include_usage": True}} if include_usage else body
        chunks, error = check_stream(parse_sse_text(_raw(gateway, sent).text))
        assert error is None, error
        check_stream_shape(chunks, include_usage=include_usage)

    streamed = list(sdk.chat.completions.create(**body, stream_options={"include_usage": True}))
    assert streamed[-1].usage is not None and streamed[-1].choices == []

    plain = {k: v for k, v in body.items() if k != "stream"}
    with sdk.chat.completions.stream(**plain, stream_options={"include_usage": True}) as helper:
        try:
            final = helper.get_final_completion()
        except openai.LengthFinishReasonError as cut:  # the SDK's way to say "cut at max tokens"
            assert want.finish_reason == "length"
            final = cut.completion
    message = final.choices[0].message
    reasoning = (message.model_extra or {}).get("reasoning_content")
    _check_message(
        recording, want, message.content, reasoning, message.tool_calls, final.choices[0].finish_reason, final.usage
    )


# --- /v1/responses ------------------------------------------------------------------------------------

BRIDGED = [r for r in RECORDINGS if "web_search_options" not in r.request]


def responses_request(recording: Recording) -> dict[str, Any]:
    """What a Responses client sends for the chat request that produced the recording."""
    chat = request_for(recording, recording.id)
    body: dict[str, Any] = {"model": recording.id, "input": "Hello"}
    if chat.get("tools"):
        body["tools"] = [{"type": "function", **t["function"]} for t in chat["tools"]]
    if "tool_choice" in chat:
        body["tool_choice"] = chat["tool_choice"]
    if "reasoning_effort" in chat:
        body["reasoning"] = {"effort": chat["reasoning_effort"]}
    if "response_format" in chat:
        schema = chat["response_format"]["json_schema"]
        body["text"] = {"format": {"type": "json_schema", "name": schema["name"], "schema": schema["schema"]}}
    return body


def _check_response(recording: Recording, want: Expected, response: dict[str, Any]) -> None:
    assert_response(response)
    output = response["output"]
    text = "".join(
        part["text"] for item in output if item["type"] == "message" for part in item["content"] if "text" in part
    )
    reasoning = "".join(
        part["text"]
        for item in output
        if item["type"] == "reasoning"
        for part in [*item["summary"], *item.get("content", [])]
    )
    if recording.name == "anthropic-json-output-format.1":
        assert json.loads(text) == json.loads(want.text)
    else:
        assert text == want.text
    assert reasoning == want.reasoning
    calls = [
        (i["call_id"], i["name"], json.loads(i["arguments"] or "{}")) for i in output if i["type"] == "function_call"
    ]
    assert [(n, a) for _, n, a in calls] == [(n, a) for _, n, a in want.tool_calls]
    for (got_id, _, _), (want_id, _, _) in zip(calls, want.tool_calls, strict=True):
        assert got_id and (want_id is None or got_id == want_id)
    assert response["status"] == ("incomplete" if want.finish_reason == "length" else "completed")
    usage = response["usage"]
    assert (usage["input_tokens"], usage["output_tokens"], usage["total_tokens"]) == (
        want.prompt_tokens,
        want.completion_tokens,
        want.total_tokens,
    )
    if want.cached_tokens is not None:
        assert usage["input_tokens_details"]["cached_tokens"] == want.cached_tokens


def _post_response(gateway: UvicornThread, body: dict[str, Any]) -> httpx.Response:
    answer = httpx.post(
        gateway.base_url + "/v1/responses", json=body, headers={"authorization": f"Bearer {MASTER_KEY}"}, timeout=30
    )
    assert answer.status_code == 200, answer.text
    return answer


def _response_events(text: str) -> list[dict[str, Any]]:
    return [
        json.loads(line[5:].strip())
        for block in text.split("\n\n")
        for line in block.split("\n")
        if line.startswith("data:")
    ]


@pytest.mark.parametrize("recording", BRIDGED, ids=[r.id for r in BRIDGED])
def test_recording_replays_as_a_response(
    recording: Recording, upstream: RecordingUpstream, gateway: UvicornThread
) -> None:
    upstream.serving = recording
    want = expected(recording)
    body = responses_request(recording)
    sdk = openai.OpenAI(base_url=gateway.base_url + "/v1", api_key=MASTER_KEY, max_retries=0, timeout=30)
    if not recording.stream:
        _check_response(recording, want, _post_response(gateway, body).json())
        _check_response(recording, want, sdk.responses.create(**body).to_dict())
        return
    events = assert_events(_response_events(_post_response(gateway, {**body, "stream": True}).text))
    _check_response(recording, want, events[-1]["response"])
    with sdk.responses.stream(**body) as stream:
        seen = list(stream)
        # the SDK's helper keeps only a ``response.completed``; a cut answer ends in ``response.incomplete``
        final = (
            stream.get_final_response().to_dict() if want.finish_reason != "length" else seen[-1].to_dict()["response"]
        )
    assert [event.type for event in seen] == [e["type"] for e in events]
    _check_response(recording, want, final)
