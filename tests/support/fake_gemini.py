"""A Gemini-shaped upstream (``generateContent`` / ``streamGenerateContent?alt=sse``) with fault injection.

By default it answers like the Gemini API: text, or a function call for the first declared function when
tools are given (unless ``toolConfig`` says NONE), one candidate per ``candidateCount``, usage metadata,
a ``responseId``. Tests script the next answers with :meth:`FakeGemini.plan`::

    fake.plan(GStatus(429, "RESOURCE_EXHAUSTED", retry_delay="7s"), GReply(text="ok"))
    fake.plan(GCutStream(after=2))
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections import deque
from dataclasses import dataclass
from typing import Any

from tests.support.echo import credential_of, echo_google_error
from tests.support.fake_http import FakeHTTPServer, FakeRequest, Responder
from tests.support.log_scan import remember_secret
from tests.support.pacing import FirstBeforeLast

API_KEY = "AIzaSyFakeGeminiKey0123456789abcdefghij"
remember_secret(API_KEY)


@dataclass
class GReply:
    """A normal answer. ``calls`` is a list of (name, args) function calls (parallel when several)."""

    text: str = "Hello from fake Gemini."
    calls: list[tuple[str, dict[str, Any]]] | None = None
    thought: str | None = None
    finish: str = "STOP"
    signature: str | None = None
    usage: dict[str, Any] | None = None
    block_reason: str | None = None
    chunk_delay: float = 0.0
    last_waits_for: FirstBeforeLast | None = None
    """In a stream, the last event waits until the client has its first content."""


@dataclass
class GStatus:
    """An HTTP error with a Google error body."""

    status: int
    grpc: str
    message: str = "upstream says no"
    retry_delay: str | None = None
    reason: str | None = None


@dataclass
class GCutStream:
    """Stream ``after`` events, then drop the connection (no finishReason sent)."""

    after: int = 2


@dataclass
class GMalformedFrame:
    after: int = 1


@dataclass
class GStreamError:
    """A 200 stream that carries an error object after ``after`` events."""

    after: int = 1
    status: str = "INTERNAL"
    code: int = 500


GBehaviour = GReply | GStatus | GCutStream | GMalformedFrame | GStreamError


def _error_body(fault: GStatus) -> dict[str, Any]:
    details: list[dict[str, Any]] = []
    if fault.reason:
        details.append(
            {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": fault.reason, "domain": "googleapis.com"}
        )
    if fault.retry_delay:
        details.append({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": fault.retry_delay})
    return {"error": {"code": fault.status, "message": fault.message, "status": fault.grpc, "details": details}}


class FakeGemini(FakeHTTPServer):
    def __post_init__(self) -> None:
        super().__post_init__()
        self._plans: deque[GBehaviour] = deque()
        self._plan_lock = threading.Lock()
        self.default: GBehaviour = GReply()
        self._counter = 0
        self.echo = False
        """The echo mode (:mod:`tests.support.echo`): errors and stream errors quote the request's key."""

    @property
    def v1beta(self) -> str:
        return f"{self.base_url}/v1beta"

    def plan(self, *behaviours: GBehaviour) -> None:
        with self._plan_lock:
            self._plans.extend(behaviours)

    def reset(self) -> None:
        super().reset()
        with self._plan_lock:
            self._plans.clear()
        self.default = GReply()
        self.echo = False

    def _next(self) -> GBehaviour:
        with self._plan_lock:
            return self._plans.popleft() if self._plans else self.default

    async def handle(self, request: FakeRequest, respond: Responder) -> None:
        path, _, query = request.path.partition("?")
        if request.headers.get("x-goog-api-key") != API_KEY:
            await respond.send(
                400,
                _error_body(
                    GStatus(
                        400,
                        "INVALID_ARGUMENT",
                        "API key not valid. Please pass a valid API key.",
                        reason="API_KEY_INVALID",
                    )
                ),
            )
            return
        if not path.startswith("/v1beta/models/") or ":" not in path:
            await respond.send(404, _error_body(GStatus(404, "NOT_FOUND", "no such route")))
            return
        model, _, action = path.removeprefix("/v1beta/models/").partition(":")
        body = request.json()
        stream = action == "streamGenerateContent"
        if stream and query != "alt=sse":
            await respond.send(400, _error_body(GStatus(400, "INVALID_ARGUMENT", "this fake only streams SSE")))
            return
        self._counter += 1
        response_id = f"resp{self._counter:06d}"
        behaviour = self._next()
        key = credential_of(request.headers) if self.echo else None
        if isinstance(behaviour, GStatus):
            error = echo_google_error(behaviour.status, behaviour.grpc, key) if key else _error_body(behaviour)
            await respond.send(behaviour.status, error)
        elif isinstance(behaviour, GReply):
            if stream:
                await self._stream(behaviour, body, model, response_id, respond)
            else:
                await respond.send(200, whole_response(behaviour, body, model, response_id))
        else:
            await self._faulty(behaviour, body, model, response_id, respond, key)

    async def _stream(
        self, reply: GReply, body: dict[str, Any], model: str, response_id: str, respond: Responder
    ) -> None:
        await respond.start_stream()
        events = stream_events(reply, body, model, response_id)
        for number, event in enumerate(events, 1):
            if reply.chunk_delay:
                await asyncio.sleep(reply.chunk_delay)
            if reply.last_waits_for is not None and number == len(events):
                await reply.last_waits_for.before_last_async()
            await respond.write(f"data: {json.dumps(event)}\r\n\r\n")
        await respond.end()

    async def _faulty(
        self,
        fault: GBehaviour,
        body: dict[str, Any],
        model: str,
        response_id: str,
        respond: Responder,
        key: str | None = None,
    ) -> None:
        events = stream_events(GReply(text="one two three four five six seven"), body, model, response_id)
        after = getattr(fault, "after", 0)
        await respond.start_stream()
        for event in events[:after]:
            await respond.write(f"data: {json.dumps(event)}\r\n\r\n")
            await asyncio.sleep(0.01)
        if isinstance(fault, GCutStream):
            await respond.drop()
        elif isinstance(fault, GMalformedFrame):
            await respond.write('data: {"candidates": [{"content": \r\n\r\n')
            await respond.end()
        elif isinstance(fault, GStreamError):
            error = {"error": {"code": fault.code, "message": "Internal error encountered.", "status": fault.status}}
            if key:
                error = echo_google_error(fault.code, fault.status, key)
            await respond.write(f"data: {json.dumps(error)}\r\n\r\n")
            await respond.end()


def _declared(body: dict[str, Any]) -> list[str]:
    mode = ((body.get("toolConfig") or {}).get("functionCallingConfig") or {}).get("mode")
    if mode == "NONE":
        return []
    names = [d["name"] for tool in body.get("tools") or [] for d in tool.get("functionDeclarations") or []]
    allowed = ((body.get("toolConfig") or {}).get("functionCallingConfig") or {}).get("allowedFunctionNames")
    return [n for n in names if n in allowed] if allowed else names


def _calls(reply: GReply, body: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    if reply.calls is not None:
        return reply.calls
    declared = _declared(body)
    return [(declared[0], {"location": "Paris"})] if declared else []


def _usage(reply: GReply, body: dict[str, Any]) -> dict[str, Any]:
    if reply.usage is not None:
        return reply.usage
    prompt = max(1, len(json.dumps(body.get("contents", []))) // 4)
    count = int((body.get("generationConfig") or {}).get("candidateCount") or 1)
    candidates = max(1, len(reply.text.split())) * count
    usage = {"promptTokenCount": prompt, "candidatesTokenCount": candidates, "totalTokenCount": prompt + candidates}
    if reply.thought:
        usage["thoughtsTokenCount"] = 5
        usage["totalTokenCount"] += 5
    return usage


def _call_parts(reply: GReply, body: dict[str, Any]) -> list[dict[str, Any]]:
    parts = []
    for position, (name, args) in enumerate(_calls(reply, body)):
        part: dict[str, Any] = {"functionCall": {"name": name, "args": args}}
        if reply.signature and position == 0:
            part["thoughtSignature"] = reply.signature
        parts.append(part)
    return parts


def whole_response(reply: GReply, body: dict[str, Any], model: str, response_id: str) -> dict[str, Any]:
    base = {"usageMetadata": _usage(reply, body), "modelVersion": model, "responseId": response_id}
    if reply.block_reason:
        return {"promptFeedback": {"blockReason": reply.block_reason}, **base}
    count = int((body.get("generationConfig") or {}).get("candidateCount") or 1)
    candidates = []
    for index in range(count):
        parts: list[dict[str, Any]] = []
        if reply.thought:
            parts.append({"text": reply.thought, "thought": True})
        calls = _call_parts(reply, body)
        parts += calls or [{"text": reply.text}]
        candidates.append({"content": {"role": "model", "parts": parts}, "finishReason": reply.finish, "index": index})
    return {"candidates": candidates, **base}


def stream_events(reply: GReply, body: dict[str, Any], model: str, response_id: str) -> list[dict[str, Any]]:
    base = {"modelVersion": model, "responseId": response_id}
    if reply.block_reason:
        return [{"promptFeedback": {"blockReason": reply.block_reason}, "usageMetadata": _usage(reply, body), **base}]
    events: list[dict[str, Any]] = []

    def event(parts: list[dict[str, Any]], finish: str | None = None) -> dict[str, Any]:
        candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
        if finish:
            candidate["finishReason"] = finish
        out = {"candidates": [candidate], **base}
        out["usageMetadata"] = _usage(reply, body) if finish else {"promptTokenCount": 3}
        return out

    if reply.thought:
        events.append(event([{"text": reply.thought, "thought": True}]))
    calls = _call_parts(reply, body)
    if calls:
        events.append(event(calls, reply.finish))
        return events
    words = reply.text.split(" ")
    for position, word in enumerate(words):
        last = position == len(words) - 1
        events.append(event([{"text": word if last else word + " "}], reply.finish if last else None))
    return events
