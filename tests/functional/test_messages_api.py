"""``/v1/messages`` through the whole app: what loads when, and the chat pipeline's features on the way."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support import fake_anthropic as fake_anthropic_module
from tests.support.anthropic_schema import assert_event, assert_message
from tests.support.fake_anthropic import ErrorEvent, FakeAnthropic, Reply, Status, stream_events
from tests.support.gateway import MASTER_KEY, running_gateway

pytestmark = pytest.mark.slow


def test_the_messages_modules_load_on_the_first_messages_request_not_for_chat() -> None:
    script = textwrap.dedent(
        """
        import sys
        from starlette.testclient import TestClient
        from llm_gateway.api.app import create_app
        from tests.support.gateway import MASTER_KEY, make_gateway

        app = create_app(make_gateway({"models": [{"name": "mock", "provider": "mock", "model": "mock-1"}]}))
        key = {"authorization": f"Bearer {MASTER_KEY}"}
        with TestClient(app) as client:
            chat = {"model": "mock", "messages": [{"role": "user", "content": "hi"}]}
            assert client.post("/v1/chat/completions", json=chat, headers=key).status_code == 200
            print(sorted(m for m in sys.modules if m.startswith("llm_gateway.messages")))
            body = {"model": "mock", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
            assert client.post("/v1/messages", json=body, headers=key).status_code == 200
            print("llm_gateway.messages.service" in sys.modules)
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.split("\n")[:2] == ["[]", "True"]


PDF = "JVBERi0xLjQKJcfsj6IKMSAwIG9iago8PD4+CmVuZG9iagp0cmFpbGVyCjw8Pj4KJSVFT0YK"
NATIVE_BODY: dict[str, Any] = {
    "model": "claude",
    "max_tokens": 2048,
    "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
    "thinking": {"type": "enabled", "budget_tokens": 1024},
    "top_k": 5,
    "messages": [
        {
            "role": "user",
            "content": [
                {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": PDF}},
                {"type": "text", "text": "Summarise.", "cache_control": {"type": "ephemeral"}},
            ],
        }
    ],
}
HEADERS = {
    "x-api-key": MASTER_KEY,
    "anthropic-version": "2023-06-01",
    "anthropic-beta": "prompt-caching-2024-07-31,pdfs-2024-09-25",
}
CACHED_USAGE = {"input_tokens": 1000, "cache_read_input_tokens": 2000, "cache_creation_input_tokens": 500}


@pytest.fixture
def fake_anthropic() -> Iterator[FakeAnthropic]:
    server = FakeAnthropic()
    server.start()
    yield server
    server.stop()


def _config(fake: FakeAnthropic, **extra: Any) -> dict[str, Any]:
    deployment = {
        "name": "claude",
        "provider": "anthropic",
        "model": "claude-sonnet-4-5-20250929",
        "api_base": fake.base_url,
        "api_key": fake_anthropic_module.API_KEY,
    }
    return {"models": [deployment], **extra}


def test_anthropic_gets_the_body_as_it_came_and_its_answer_comes_back_as_it_was(fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.plan(Reply(text="A short PDF.", thinking="Read it.", usage=CACHED_USAGE))
    with running_gateway(_config(fake_anthropic)) as gateway:
        answer = httpx.post(f"{gateway.base_url}/v1/messages", json=NATIVE_BODY, headers=HEADERS, timeout=30)
    assert answer.status_code == 200, answer.text
    sent = fake_anthropic.message_requests()[-1]
    assert sent.json() == {**NATIVE_BODY, "model": "claude-sonnet-4-5-20250929"}  # cache_control, top_k, document
    assert sent.headers["anthropic-beta"] == "prompt-caching-2024-07-31,pdfs-2024-09-25"
    assert sent.headers["anthropic-version"] == "2023-06-01"
    message = assert_message(answer.json())
    assert message["id"] == "msg_01FakeAnthropic"  # the upstream's own answer
    assert message["model"] == "claude"  # named as asked: Claude Code drops earlier thinking when it changes
    assert message["content"][0] == {"type": "thinking", "thinking": "Read it.", "signature": "EqQBCkYIARgCIkDsig=="}
    assert message["usage"]["cache_read_input_tokens"] == 2000
    assert answer.headers["x-llm-gateway-deployment"].startswith("claude")


def test_a_native_stream_sends_the_upstreams_own_events(fake_anthropic: FakeAnthropic) -> None:
    reply = Reply(text="one two three", thinking="Hmm.")
    fake_anthropic.plan(reply)
    with running_gateway(_config(fake_anthropic)) as gateway:
        events = _events(gateway.base_url, {**NATIVE_BODY, "stream": True})
    expected = [
        json.loads(e.split("data: ", 1)[1]) for e in stream_events(reply, fake_anthropic.message_requests()[-1].json())
    ]
    expected[0]["message"]["model"] = "claude"  # the model as the client named it
    assert events == expected  # thinking_delta, signature_delta and the upstream's ping included, in order


def test_an_upstream_error_event_mid_stream_is_an_anthropic_error_event(fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.plan(ErrorEvent(after=2, error_type="overloaded_error", message="Overloaded"))
    body = {"model": "claude", "max_tokens": 50, "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    with running_gateway(_config(fake_anthropic)) as gateway:
        events = _events(gateway.base_url, body)
    assert [e["type"] for e in events][:2] == ["message_start", "content_block_start"]
    assert events[-1]["type"] == "error" and events[-1]["error"]["type"] in ("overloaded_error", "api_error")


def test_the_ledger_prices_cache_reads_and_the_cache_replays_the_native_answer(fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.plan(Reply(text="Cached.", usage={**CACHED_USAGE, "output_tokens": 100}))
    prices = {"claude": {"input": 3, "cached_input": 0.3, "output": 15}}
    config = _config(fake_anthropic, tenants={"prices": prices}, cache={"mode": "on"})
    body = {"model": "claude", "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]}
    with running_gateway(config) as gateway:
        first = httpx.post(f"{gateway.base_url}/v1/messages", json=body, headers=HEADERS, timeout=30)
        again = httpx.post(f"{gateway.base_url}/v1/messages", json=body, headers=HEADERS, timeout=30)
        spend = httpx.get(f"{gateway.base_url}/v1/spend", headers={"authorization": f"Bearer {MASTER_KEY}"}).json()
        chat = httpx.post(
            f"{gateway.base_url}/v1/chat/completions",
            json={"model": "claude", "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]},
            headers={"authorization": f"Bearer {MASTER_KEY}"},
            timeout=30,
        )
    assert first.headers["x-llm-gateway-cache"] == "miss" and again.headers["x-llm-gateway-cache"] == "hit"
    assert again.json() == first.json() == assert_message(first.json())  # the native answer, replayed
    assert "native" not in chat.json() and chat.json()["object"] == "chat.completion"  # never a messages entry
    assert len(fake_anthropic.message_requests()) == 2  # the messages answer once, the chat one once
    # 3,500 prompt tokens of which 2,000 read from Anthropic's cache, 100 completion tokens; the hit is free
    assert spend["total_cost_usd"] == pytest.approx((1500 * 3 + 2000 * 0.3 + 100 * 15) / 1_000_000)


def _events(base_url: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    with httpx.stream("POST", f"{base_url}/v1/messages", json=body, headers=HEADERS, timeout=30) as response:
        assert response.status_code == 200
        name = None
        for line in response.iter_lines():
            if line.startswith("event: "):
                name = line.removeprefix("event: ")
            elif line.startswith("data: "):
                out.append(assert_event(str(name), json.loads(line.removeprefix("data: "))))
    return out


def test_a_guardrail_that_rewrites_the_prompt_sends_the_rewritten_translation_not_the_original(
    fake_anthropic: FakeAnthropic,
) -> None:
    fake_anthropic.plan(Reply(text="Noted."))
    config = _config(fake_anthropic, guardrails={"defaults": ["pii_redaction"]})
    body = {
        "model": "claude",
        "max_tokens": 50,
        "messages": [
            {
                "role": "user",
                "content": [{"type": "text", "text": "Mail jane@example.com", "cache_control": {"type": "ephemeral"}}],
            }
        ],
    }
    with running_gateway(config) as gateway:
        answer = httpx.post(f"{gateway.base_url}/v1/messages", json=body, headers=HEADERS, timeout=30)
    assert answer.status_code == 200, answer.text
    assert assert_message(answer.json())["content"] == [{"type": "text", "text": "Noted."}]
    sent = json.dumps(fake_anthropic.message_requests()[-1].json())
    assert "jane@example.com" not in sent and "[REDACTED_EMAIL]" in sent
    assert "pii_redaction:redacted=1" in answer.headers["x-llm-gateway-guardrails"]


def test_an_overloaded_claude_falls_back_to_a_bridged_group_named_in_the_answer(fake_anthropic: FakeAnthropic) -> None:
    """Retries, fallbacks and cooldowns are the router's, for Messages too: Claude answers 529 (overloaded),
    the request falls back to a group served through the translation, and the answer names that group
    (so Claude Code knows earlier thinking was another model's)."""
    fake_anthropic.plan(*[Status(529, "overloaded_error", "Overloaded")] * 2)
    config = _config(fake_anthropic, router={"num_retries": 0, "fallbacks": {"claude": ["mock"]}})
    config["models"].append({"name": "mock", "provider": "mock", "model": "mock-1"})
    body = {"model": "claude", "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]}
    with running_gateway(config) as gateway:
        answer = httpx.post(f"{gateway.base_url}/v1/messages", json=body, headers=HEADERS, timeout=30)
        events = _events(gateway.base_url, {**body, "stream": True})  # cooling down, or overloaded again
    assert answer.status_code == 200, answer.text
    message = assert_message(answer.json())
    assert message["model"] == "mock" and answer.headers["x-llm-gateway-model-group"] == "mock"
    assert events[0]["message"]["model"] == "mock" and events[-1]["type"] == "message_stop"
    assert len(fake_anthropic.message_requests()) in (1, 2)
