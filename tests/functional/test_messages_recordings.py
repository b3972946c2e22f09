"""Every real provider recording (../shared/reference/recordings), replayed as the upstream's answer to a
``/v1/messages`` request from the official ``anthropic`` SDK: an Anthropic message (or event stream, read
raw and through ``messages.stream``), valid against Anthropic's shapes, with the recording's text,
thinking, tool calls, stop reason and token counts. Anthropic's recordings twice: passed through as they
came (the default for Claude), and bridged through chat (``native: []``). Recordings of a request the
Messages API would make otherwise (a response format, hosted web search) are left out."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import pytest

from tests.support.anthropic_schema import assert_event, assert_message
from tests.support.gateway import MASTER_KEY, running_gateway
from tests.support.recordings import ROOT, Recording, RecordingUpstream, deployment_for, expected, recordings
from tests.support.servers import UvicornThread

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not ROOT.is_dir(), reason="../shared/reference/recordings is not beside the repo"),
]

ASKED_OTHERWISE = ("response_format", "web_search_options")
RECORDINGS = [r for r in (recordings() if ROOT.is_dir() else []) if not any(k in r.request for k in ASKED_OTHERWISE)]
CASES = [(r, bridged) for r in RECORDINGS for bridged in ((False, True) if r.provider == "anthropic" else (True,))]
STOP = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use"}


def _name(recording: Recording, bridged: bool) -> str:
    return f"{recording.id}-bridged" if bridged and recording.provider == "anthropic" else recording.id


@pytest.fixture(scope="module")
def upstream() -> Iterator[RecordingUpstream]:
    server = RecordingUpstream()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def gateway(upstream: RecordingUpstream) -> Iterator[UvicornThread]:
    models = []
    for recording, bridged in CASES:
        entry = {**deployment_for(recording, upstream.base_url), "name": _name(recording, bridged)}
        if bridged:
            entry["native"] = []  # Bedrock's recordings are Converse answers; Anthropic's also through chat
        models.append(entry)
    with running_gateway({"models": models}) as server:
        yield server


def _request(recording: Recording, bridged: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": _name(recording, bridged),
        "max_tokens": 2048,
        "messages": [{"role": "user", "content": "Hello"}],
    }
    names = list(dict.fromkeys(name for _, name, _ in expected(recording).tool_calls))
    if names:
        body["tools"] = [{"name": name, "input_schema": {"type": "object", "properties": {}}} for name in names]
    if "reasoning_effort" in recording.request:
        body["thinking"] = {"type": "enabled", "budget_tokens": 1024}
    return body


def _check(recording: Recording, message: dict[str, Any]) -> None:
    want = expected(recording)
    blocks = message["content"]
    assert "".join(b["text"] for b in blocks if b["type"] == "text") == want.text
    assert "".join(b["thinking"] for b in blocks if b["type"] == "thinking") == want.reasoning
    calls = [(b["name"], b["input"]) for b in blocks if b["type"] == "tool_use"]
    assert calls == [(name, args) for _, name, args in want.tool_calls]
    assert all(b["id"] for b in blocks if b["type"] == "tool_use")
    assert message["stop_reason"] == STOP[want.finish_reason]
    usage = message["usage"]
    assert usage["output_tokens"] == want.completion_tokens
    prompt = usage["input_tokens"] + (usage.get("cache_read_input_tokens") or 0)
    assert prompt + (usage.get("cache_creation_input_tokens") or 0) == want.prompt_tokens


@pytest.mark.parametrize(("recording", "bridged"), CASES, ids=[_name(r, b) for r, b in CASES])
def test_a_recording_replays_as_an_anthropic_message(
    recording: Recording, bridged: bool, upstream: RecordingUpstream, gateway: UvicornThread
) -> None:
    upstream.serving = recording
    client = anthropic.Anthropic(base_url=gateway.base_url, api_key=MASTER_KEY, max_retries=0, timeout=30)
    body = _request(recording, bridged)
    if not recording.stream:
        raw = client.messages.with_raw_response.create(**body)
        _check(recording, assert_message(raw.http_response.json()))
        return
    events = _raw_events(gateway.base_url, body)
    assert [e["type"] for e in events][-1] == "message_stop"
    with client.messages.stream(**body) as stream:
        final = stream.get_final_message()
    _check(recording, assert_message(final.model_dump(mode="json")))


def _raw_events(base_url: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    out, name = [], None
    headers = {"x-api-key": MASTER_KEY, "anthropic-version": "2023-06-01"}
    with httpx.stream("POST", f"{base_url}/v1/messages", json={**body, "stream": True}, headers=headers) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            if line.startswith("event: "):
                name = line.removeprefix("event: ")
            elif line.startswith("data: "):
                out.append(assert_event(str(name), json.loads(line.removeprefix("data: "))))
    return out
