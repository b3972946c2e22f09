"""An OpenAI-shaped upstream with fault injection.

By default it answers like OpenAI (non-stream or SSE, honouring ``n``, ``tools``, ``stream_options``).
Tests script what the next requests get with :meth:`FakeOpenAI.plan`, optionally per upstream model::

    fake.plan(Status(429, headers={"retry-after": "1"}), Reply(text="ok"))
    fake.plan(CutStream(after=3), model="model-b")

With ``fake.echo = True`` (the echo mode, :mod:`tests.support.echo`) every error it sends (``Status``,
``ErrorBody``, ``ErrorFrame``) carries the credential the request came with, in every field.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field, replace
from typing import Any

from tests.support.echo import credential_of, echo_openai_error
from tests.support.fake_http import FakeHTTPServer, FakeRequest, Responder
from tests.support.pacing import FirstBeforeLast


@dataclass
class Reply:
    """A normal answer. ``tool_calls`` is a list of (name, arguments-json) for every choice."""

    text: str = "Hello from the fake upstream."
    tool_calls: list[tuple[str, str]] | None = None
    finish_reason: str | None = None
    chunk_delay: float = 0.0
    delay: float = 0.0
    usage: dict[str, Any] | None = None
    reasoning: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    omit_usage: bool = False
    """Behave like servers that ignore ``stream_options.include_usage``."""
    hold: threading.Event | None = None
    """Answer only once the test sets this (a slow upstream without a clock; a minute at most)."""
    hold_first_chunk: threading.Event | None = None
    """In a stream, send the head at once but the first chunk only once the test sets this (a minute at
    most): a reasoning model thinking before its first token."""
    last_waits_for: FirstBeforeLast | None = None
    """In a stream, the last chunk waits until the client has its first content."""


@dataclass
class Status:
    """An HTTP error answer with an OpenAI error body (or ``body`` verbatim)."""

    status: int
    message: str = "upstream says no"
    code: str | None = None
    error_type: str = "invalid_request_error"
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    param: str | None = None
    error: dict[str, Any] | None = None
    """The error object, whole (the echo mode's)."""
    hold: threading.Event | None = None
    """Answer only once the test sets this (a minute at most)."""


@dataclass
class ErrorBody:
    """A 200 whose body is an OpenAI error object, not a completion."""

    message: str = "The model produced invalid content."
    code: str | None = None
    error: dict[str, Any] | None = None


@dataclass
class Drop:
    """Close the connection without answering."""


@dataclass
class Hang:
    """Never answer (until the client gives up)."""


@dataclass
class CutStream:
    """Stream ``after`` content chunks, then drop the connection."""

    after: int = 2


@dataclass
class MalformedFrame:
    after: int = 1
    frame: str = 'data: {"id": "broken", "choices": [\n\n'


@dataclass
class ErrorFrame:
    after: int = 1
    message: str = "The server had an error while processing your request."
    error: dict[str, Any] | None = None


@dataclass
class Raw:
    """Answer with exactly these bytes after the head (status 200), e.g. non-JSON."""

    body: bytes
    status: int = 200
    content_type: str = "application/json"


@dataclass
class Trickle:
    """A stream that sends one byte every ``interval`` seconds, forever."""

    interval: float = 0.2


@dataclass
class HugeFrame:
    size: int = 40 * 1024 * 1024


Behaviour = (
    Reply | Status | ErrorBody | Drop | Hang | CutStream | MalformedFrame | ErrorFrame | Raw | Trickle | HugeFrame
)


class FakeOpenAI(FakeHTTPServer):
    def __post_init__(self) -> None:
        super().__post_init__()
        self._plans: dict[str | None, deque[Behaviour]] = {}
        self._plan_lock = threading.Lock()
        self.default: Behaviour = Reply()
        self.chunk_times: list[float] = []
        self.echo = False
        """The echo mode: every error quotes the request's credential in every field."""

    @property
    def v1(self) -> str:
        return f"{self.base_url}/v1"

    def plan(self, *behaviours: Behaviour, model: str | None = None) -> None:
        with self._plan_lock:
            self._plans.setdefault(model, deque()).extend(behaviours)

    def reset(self) -> None:
        super().reset()
        with self._plan_lock:
            self._plans.clear()
        self.default = Reply()
        self.chunk_times.clear()
        self.echo = False

    def chat_requests(self) -> list[FakeRequest]:
        return [r for r in self.requests if r.path.endswith("/chat/completions")]

    def _next(self, model: str | None) -> Behaviour:
        with self._plan_lock:
            for key in (model, None):
                queue = self._plans.get(key)
                if queue:
                    return queue.popleft()
        return self.default

    async def handle(self, request: FakeRequest, respond: Responder) -> None:
        if request.path.endswith("/models"):
            await respond.send(
                200, {"object": "list", "data": [{"id": "fake", "object": "model", "created": 0, "owned_by": "fake"}]}
            )
            return
        if not request.path.endswith("/chat/completions"):
            await respond.send(
                404,
                {"error": {"message": "no such route", "type": "invalid_request_error", "param": None, "code": None}},
            )
            return
        try:
            body = request.json()
        except ValueError:
            await respond.send(
                400, {"error": {"message": "bad json", "type": "invalid_request_error", "param": None, "code": None}}
            )
            return
        behaviour = self._next(body.get("model"))
        if self.echo and isinstance(behaviour, Status | ErrorBody | ErrorFrame):
            behaviour = replace(behaviour, error=echo_openai_error(credential_of(request.headers)))
        await self._act(behaviour, body, respond)

    async def _act(self, behaviour: Behaviour, body: dict[str, Any], respond: Responder) -> None:
        stream = bool(body.get("stream"))
        if isinstance(behaviour, Status) and behaviour.hold is not None:
            await asyncio.to_thread(behaviour.hold.wait, 60)
        if isinstance(behaviour, Status) and behaviour.error is not None:
            await respond.send(behaviour.status, {"error": behaviour.error}, behaviour.headers)
        elif isinstance(behaviour, ErrorBody):
            error = behaviour.error or {"message": behaviour.message, "type": None, "code": behaviour.code}
            await respond.send(200, {"error": error})
        elif isinstance(behaviour, Status):
            payload = (
                behaviour.body
                if behaviour.body is not None
                else {
                    "error": {
                        "message": behaviour.message,
                        "type": behaviour.error_type,
                        "param": behaviour.param,
                        "code": behaviour.code,
                    }
                }
            )
            await respond.send(behaviour.status, payload, behaviour.headers)
        elif isinstance(behaviour, Drop):
            await respond.drop()
        elif isinstance(behaviour, Hang):
            await asyncio.sleep(3600)
        elif isinstance(behaviour, Raw):
            await respond.send(behaviour.status, behaviour.body, {"content-type": behaviour.content_type})
        elif isinstance(behaviour, Trickle):
            await respond.start_stream()
            while True:
                await respond.write(b":")
                await asyncio.sleep(behaviour.interval)
        elif isinstance(behaviour, HugeFrame):
            await respond.start_stream()
            piece = b"x" * (1024 * 1024)
            await respond.write(b'data: {"id": "')
            for _ in range(behaviour.size // len(piece)):
                await respond.write(piece)
            await respond.end()
        elif isinstance(behaviour, Reply):
            if behaviour.delay:
                await asyncio.sleep(behaviour.delay)
            if behaviour.hold is not None:
                await asyncio.to_thread(behaviour.hold.wait, 60)
            if stream:
                await self._stream(behaviour, body, respond)
            else:
                await respond.send(200, completion(behaviour, body))
        else:  # stream faults
            await self._faulty_stream(behaviour, body, respond)

    async def _stream(self, reply: Reply, body: dict[str, Any], respond: Responder) -> None:
        await respond.start_stream()
        if reply.hold_first_chunk is not None:
            await asyncio.to_thread(reply.hold_first_chunk.wait, 60)
        chunks = stream_chunks(reply, body)
        for number, chunk in enumerate(chunks, 1):
            if reply.chunk_delay:
                await asyncio.sleep(reply.chunk_delay)
            if reply.last_waits_for is not None and number == len(chunks):
                await reply.last_waits_for.before_last_async()
            self.chunk_times.append(time.monotonic())
            await respond.write(f"data: {json.dumps(chunk)}\n\n")
        await respond.write("data: [DONE]\n\n")
        await respond.end()

    async def _faulty_stream(self, fault: Behaviour, body: dict[str, Any], respond: Responder) -> None:
        after = getattr(fault, "after", 0)
        chunks = stream_chunks(Reply(text="one two three four five six seven eight"), body)
        await respond.start_stream()
        for chunk in chunks[: 1 + after]:
            await respond.write(f"data: {json.dumps(chunk)}\n\n")
            await asyncio.sleep(0.01)
        if isinstance(fault, CutStream):
            await respond.drop()
        elif isinstance(fault, MalformedFrame):
            await respond.write(fault.frame)
            await respond.write("data: [DONE]\n\n")
            await respond.end()
        elif isinstance(fault, ErrorFrame):
            error = {
                "error": fault.error or {"message": fault.message, "type": "server_error", "param": None, "code": None}
            }
            await respond.write(f"data: {json.dumps(error)}\n\n")
            await respond.end()


def _usage(reply: Reply, body: dict[str, Any]) -> dict[str, Any]:
    if reply.usage is not None:
        return reply.usage
    prompt = sum(len(str(m.get("content") or "")) // 4 + 4 for m in body.get("messages", []))
    completion_tokens = max(1, len(reply.text.split())) * int(body.get("n") or 1)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt + completion_tokens,
        "prompt_tokens_details": {"cached_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0},
    }


def _tool_calls(reply: Reply, body: dict[str, Any], choice: int) -> list[dict[str, Any]] | None:
    calls = reply.tool_calls
    if calls is None and body.get("tools") and body.get("tool_choice") != "none":
        names = [t["function"]["name"] for t in body["tools"] if isinstance(t.get("function"), dict)]
        calls = [(names[0], json.dumps({"location": "Paris"}))] if names else None
    if not calls:
        return None
    return [
        {"id": f"call_{choice}_{i}", "type": "function", "function": {"name": n, "arguments": a}}
        for i, (n, a) in enumerate(calls)
    ]


def completion(reply: Reply, body: dict[str, Any]) -> dict[str, Any]:
    choices = []
    for index in range(int(body.get("n") or 1)):
        calls = _tool_calls(reply, body, index)
        message: dict[str, Any] = {"role": "assistant", "content": None if calls else reply.text, "refusal": None}
        if calls:
            message["tool_calls"] = calls
        if reply.reasoning:
            message["reasoning_content"] = reply.reasoning
        finish = reply.finish_reason or ("tool_calls" if calls else "stop")
        choices.append({"index": index, "message": message, "logprobs": None, "finish_reason": finish})
    return {
        "id": "chatcmpl-fake123",
        "object": "chat.completion",
        "created": 1700000000,
        "model": body.get("model", "fake"),
        "choices": choices,
        "usage": _usage(reply, body),
        "system_fingerprint": "fp_fake",
        **reply.extra,
    }


def stream_chunks(reply: Reply, body: dict[str, Any]) -> list[dict[str, Any]]:
    base = {
        "id": "chatcmpl-fake123",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": body.get("model", "fake"),
        "system_fingerprint": "fp_fake",
    }
    include_usage = bool((body.get("stream_options") or {}).get("include_usage")) and not reply.omit_usage
    usage_field = {"usage": None} if include_usage else {}

    def chunk(index: int, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            **base,
            "choices": [{"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}],
            **usage_field,
        }

    out = []
    for index in range(int(body.get("n") or 1)):
        calls = _tool_calls(reply, body, index)
        out.append(chunk(index, {"role": "assistant", "content": "" if not calls else None}))
        if reply.reasoning:
            out.append(chunk(index, {"reasoning_content": reply.reasoning}))
        if calls:
            for position, call in enumerate(calls):
                out.append(
                    chunk(
                        index,
                        {
                            "tool_calls": [
                                {
                                    "index": position,
                                    "id": call["id"],
                                    "type": "function",
                                    "function": {"name": call["function"]["name"], "arguments": ""},
                                }
                            ]
                        },
                    )
                )
                arguments = call["function"]["arguments"]
                for piece in (arguments[: len(arguments) // 2], arguments[len(arguments) // 2 :]):
                    out.append(chunk(index, {"tool_calls": [{"index": position, "function": {"arguments": piece}}]}))
        else:
            words = reply.text.split(" ")
            for position, word in enumerate(words):
                out.append(chunk(index, {"content": word if position == len(words) - 1 else word + " "}))
        out.append(chunk(index, {}, reply.finish_reason or ("tool_calls" if calls else "stop")))
    if include_usage:
        out.append({**base, "choices": [], "usage": _usage(reply, body)})
    return out
