"""An Anthropic-shaped upstream (``POST /v1/messages``) with fault injection, on :mod:`fake_http`.

It checks what the gateway sends the way Anthropic does (headers, ``max_tokens``, alternating roles,
non-empty text, tool-call ids, ``tool_result`` placement, tools defined for tool history, sampling
ranges) and answers 400 ``invalid_request_error`` when a rule is broken, so end-to-end tests catch a bad
translation. Answers are scripted with :meth:`FakeAnthropic.plan`::

    fake.plan(Status(429, "rate_limit_error", headers={"retry-after": "3"}), Reply(text="ok"))
    fake.plan(Reply(tools=[("get_weather", {"city": "Paris"}), ("get_time", {})]))
    fake.plan(ErrorEvent(after=2), CutStream(after=1))
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from tests.support.echo import credential_of, echo_anthropic_error
from tests.support.fake_http import FakeHTTPServer, FakeRequest, Responder
from tests.support.log_scan import remember_secret
from tests.support.pacing import FirstBeforeLast

API_KEY = "sk-ant-upstream-secret-0123456789"
remember_secret(API_KEY)
_TOOL_ID = re.compile(r"^[a-zA-Z0-9_-]+$")


@dataclass
class Reply:
    text: str = "Hello from the fake Anthropic."
    tools: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    thinking: str | None = None
    stop_reason: str | None = None
    usage: dict[str, Any] = field(default_factory=dict)
    chunk_delay: float = 0.0
    last_waits_for: FirstBeforeLast | None = None
    """In a stream, the last event waits until the client has its first content."""


@dataclass
class Status:
    status: int
    error_type: str = "invalid_request_error"
    message: str = "upstream says no"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class ErrorEvent:
    """Start a normal stream, send ``after`` text deltas, then an ``error`` event."""

    after: int = 1
    error_type: str = "overloaded_error"
    message: str = "Overloaded"


@dataclass
class CutStream:
    """Start a normal stream, send ``after`` text deltas, then drop the connection."""

    after: int = 1


@dataclass
class Drop:
    pass


Behaviour = Reply | Status | ErrorEvent | CutStream | Drop


def sse(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n"


def check_request(headers: dict[str, str], body: Any) -> str | None:
    """The first rule of Anthropic's that the request breaks, or None."""
    if headers.get("x-api-key") != API_KEY:
        return "401"
    if not headers.get("anthropic-version"):
        return "anthropic-version: header is required"
    if not isinstance(body, dict):
        return "body: must be an object"
    if not isinstance(body.get("max_tokens"), int):
        return "max_tokens: Field required"
    temperature = body.get("temperature")
    if temperature is not None and not 0 <= temperature <= 1:
        return "temperature: Input should be less than or equal to 1"
    for sequence in body.get("stop_sequences") or []:
        if not sequence.strip():
            return "stop_sequences: each stop sequence must contain non-whitespace"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "messages: at least one message is required"
    problem = _check_messages(messages, bool(body.get("tools")))
    if problem is None and (body.get("thinking") or {}).get("type") in ("enabled", "adaptive"):
        problem = _check_thinking_replayed(messages)
    return problem


def _check_thinking_replayed(messages: list[dict[str, Any]]) -> str | None:
    """With thinking on, the last assistant turn that called tools must open with its thinking block."""
    for position in range(len(messages) - 1, -1, -1):
        message = messages[position]
        if message["role"] != "assistant" or isinstance(message["content"], str):
            continue
        kinds = [block.get("type") for block in message["content"]]
        if "tool_use" in kinds and kinds[0] not in ("thinking", "redacted_thinking"):
            return (
                f"messages.{position}.content.0.type: Expected `thinking` or `redacted_thinking`, but found "
                f"`{kinds[0]}`. When `thinking` is enabled, an `assistant` message must start with a thinking block"
            )
        return None
    return None


def _check_messages(messages: list[dict[str, Any]], has_tools: bool) -> str | None:
    previous_role = None
    open_tool_ids: list[str] = []
    for position, message in enumerate(messages):
        role = message.get("role")
        if role == "system":  # a mid-conversation system turn (beta mid-conversation-system-2026-04-07)
            continue
        if role not in ("user", "assistant"):
            return f"messages.{position}.role: Input should be 'user' or 'assistant'"
        if role == previous_role:
            return f"messages.{position}: roles must alternate between 'user' and 'assistant'"
        previous_role = role
        content = message.get("content")
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        if not blocks:
            return f"messages.{position}: all messages must have non-empty content"
        answered = [b.get("tool_use_id") for b in blocks if b.get("type") == "tool_result"]
        if open_tool_ids:
            leading = [b.get("tool_use_id") for b in blocks[: len(open_tool_ids)] if b.get("type") == "tool_result"]
            if sorted(leading) != sorted(open_tool_ids):
                return f"messages.{position}: `tool_use` ids were found without `tool_result` blocks immediately after"
        elif answered:
            return f"messages.{position}: unexpected `tool_use_id` found in `tool_result` blocks"
        open_tool_ids = []
        for number, block in enumerate(blocks):
            kind = block.get("type")
            if kind == "text" and not block.get("text"):
                return f"messages.{position}.content.{number}: text content blocks must be non-empty"
            if kind in ("tool_use", "tool_result") and not has_tools:
                return "Requests which include `tool_use` or `tool_result` blocks must define tools."
            if kind == "tool_use":
                if not _TOOL_ID.match(block.get("id", "")):
                    return f"messages.{position}.content.{number}.tool_use.id: String should match pattern"
                if not isinstance(block.get("input"), dict):
                    return f"messages.{position}.content.{number}.tool_use.input: Input should be an object"
                open_tool_ids.append(block["id"])
    last = messages[-1]
    if last["role"] == "assistant" and isinstance(last["content"], list):
        tail = last["content"][-1]
        if tail.get("type") == "text" and tail["text"] != tail["text"].rstrip():
            return "final assistant content cannot end with trailing whitespace"
    return None


class FakeAnthropic(FakeHTTPServer):
    def __post_init__(self) -> None:
        super().__post_init__()
        self._plans: deque[Behaviour] = deque()
        self._plan_lock = threading.Lock()
        self.echo = False
        """The echo mode (:mod:`tests.support.echo`): errors and error events quote the request's key."""

    def plan(self, *behaviours: Behaviour) -> None:
        with self._plan_lock:
            self._plans.extend(behaviours)

    def reset(self) -> None:
        super().reset()
        with self._plan_lock:
            self._plans.clear()
        self.echo = False

    def message_requests(self) -> list[FakeRequest]:
        return [r for r in self.requests if r.path == "/v1/messages"]

    def _next(self) -> Behaviour:
        with self._plan_lock:
            return self._plans.popleft() if self._plans else Reply()

    async def handle(self, request: FakeRequest, respond: Responder) -> None:
        path = request.path.split("?", 1)[0]  # the SDKs add ?beta=true for beta calls
        if request.method == "POST" and path == "/v1/messages/count_tokens":
            await self._count(request, respond)
            return
        if request.method != "POST" or path != "/v1/messages":
            await respond.send(404, _error("not_found_error", "Not found"))
            return
        try:
            body = request.json()
        except ValueError:
            await respond.send(400, _error("invalid_request_error", "The request body is not valid JSON."))
            return
        problem = check_request(request.headers, body)
        if problem == "401":
            await respond.send(
                401, _error("authentication_error", f"invalid x-api-key {request.headers.get('x-api-key')}")
            )
            return
        if problem:
            await respond.send(400, _error("invalid_request_error", problem))
            return
        behaviour = self._next()
        echoed = echo_anthropic_error(credential_of(request.headers)) if self.echo else None
        if isinstance(behaviour, Status):
            error = echoed or _error(behaviour.error_type, behaviour.message)
            await respond.send(behaviour.status, error, behaviour.headers)
        elif isinstance(behaviour, Drop):
            await respond.drop()
        elif isinstance(behaviour, Reply) and not body.get("stream"):
            await respond.send(200, message(behaviour, body))
        else:
            await self._stream(behaviour, body, respond, echoed)

    async def _count(self, request: FakeRequest, respond: Responder) -> None:
        """``/v1/messages/count_tokens``: what Anthropic's takes (no ``max_tokens``), counted roughly."""
        body = request.json()
        if request.headers.get("x-api-key") != API_KEY:
            await respond.send(401, _error("authentication_error", "invalid x-api-key"))
        elif set(body) - {"model", "messages", "system", "tools", "tool_choice", "thinking", "mcp_servers"}:
            await respond.send(400, _error("invalid_request_error", f"unexpected fields: {sorted(body)}"))
        else:
            await respond.send(200, {"input_tokens": 7 + len(json.dumps(body["messages"])) // 4})

    async def _stream(
        self, behaviour: Behaviour, body: dict[str, Any], respond: Responder, echoed: dict[str, Any] | None = None
    ) -> None:
        reply = behaviour if isinstance(behaviour, Reply) else Reply(text="one two three four five six")
        events = stream_events(reply, body)
        await respond.start_stream(headers={"request-id": "req_fake"})
        if isinstance(behaviour, ErrorEvent | CutStream):
            deltas = 0
            for event in events:  # everything up to and including the `after`-th delta
                if deltas >= behaviour.after:
                    break
                deltas += event.startswith("event: content_block_delta")
                await respond.write(event)
                await asyncio.sleep(0.01)
            if isinstance(behaviour, CutStream):
                await respond.drop()
                return
            payload = echoed or {"type": "error", "error": {"type": behaviour.error_type, "message": behaviour.message}}
            await respond.write(sse("error", payload))
            await respond.end()
            return
        for number, event in enumerate(events, 1):
            if reply.chunk_delay:
                await asyncio.sleep(reply.chunk_delay)
            if reply.last_waits_for is not None and number == len(events):
                await reply.last_waits_for.before_last_async()
            await respond.write(event)
        await respond.end()


def _error(error_type: str, text: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": error_type, "message": text}, "request_id": "req_fake"}


def _usage(reply: Reply, body: dict[str, Any]) -> dict[str, Any]:
    prompt = sum(len(json.dumps(m.get("content"))) // 4 for m in body.get("messages", []))
    return {
        "input_tokens": prompt,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": max(1, len(reply.text.split())) + 10 * len(reply.tools),
        **reply.usage,
    }


def _content(reply: Reply) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    if reply.thinking:
        blocks.append({"type": "thinking", "thinking": reply.thinking, "signature": "EqQBCkYIARgCIkDsig=="})
    if reply.text:
        blocks.append({"type": "text", "text": reply.text})
    for number, (name, tool_input) in enumerate(reply.tools):
        blocks.append({"type": "tool_use", "id": f"toolu_01Fake{number:04d}", "name": name, "input": tool_input})
    return blocks


def _stop_reason(reply: Reply) -> str:
    return reply.stop_reason or ("tool_use" if reply.tools else "end_turn")


def message(reply: Reply, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "msg_01FakeAnthropic",
        "type": "message",
        "role": "assistant",
        "model": body.get("model"),
        "content": _content(reply),
        "stop_reason": _stop_reason(reply),
        "stop_sequence": None,
        "usage": _usage(reply, body),
    }


def stream_events(reply: Reply, body: dict[str, Any]) -> list[str]:
    usage = _usage(reply, body)
    start = {**message(reply, body), "content": [], "stop_reason": None, "usage": {**usage, "output_tokens": 1}}
    events = [sse("message_start", {"type": "message_start", "message": start})]
    for index, block in enumerate(_content(reply)):
        kind = block["type"]
        empty = {
            "text": {"type": "text", "text": ""},
            "thinking": {"type": "thinking", "thinking": "", "signature": ""},
        }
        opening = empty.get(kind, {**block, "input": {}})
        events.append(
            sse("content_block_start", {"type": "content_block_start", "index": index, "content_block": opening})
        )
        if index == 0:
            events.append(sse("ping", {"type": "ping"}))
        for delta in _deltas(block):
            events.append(sse("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}))
        events.append(sse("content_block_stop", {"type": "content_block_stop", "index": index}))
    final = {"type": "message_delta", "delta": {"stop_reason": _stop_reason(reply), "stop_sequence": None}}
    events.append(sse("message_delta", {**final, "usage": {"output_tokens": usage["output_tokens"]}}))
    events.append(sse("message_stop", {"type": "message_stop"}))
    return events


def _deltas(block: dict[str, Any]) -> list[dict[str, Any]]:
    if block["type"] == "text":
        words = block["text"].split(" ")
        return [{"type": "text_delta", "text": w if i == len(words) - 1 else w + " "} for i, w in enumerate(words)]
    if block["type"] == "thinking":
        return [
            {"type": "thinking_delta", "thinking": block["thinking"]},
            {"type": "signature_delta", "signature": block["signature"]},
        ]
    if not block["input"]:
        return []  # Anthropic sends no input_json_delta for an empty input
    arguments = json.dumps(block["input"])
    middle = len(arguments) // 2
    return [
        {"type": "input_json_delta", "partial_json": ""},
        {"type": "input_json_delta", "partial_json": arguments[:middle]},
        {"type": "input_json_delta", "partial_json": arguments[middle:]},
    ]
