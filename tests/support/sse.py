"""Read an SSE response the way a client sees it: each data payload with its arrival time."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from tests.support.openai_schema import assert_chunk, assert_error


@dataclass
class SSEMessage:
    data: str
    at: float

    def json(self) -> Any:
        return json.loads(self.data)


def parse_sse_lines(lines: Iterable[str], clock: Any = time.monotonic) -> list[SSEMessage]:
    return list(iter_sse_lines(lines, clock))


def iter_sse_lines(lines: Iterable[str], clock: Any = time.monotonic) -> Iterator[SSEMessage]:
    """Each SSE message as soon as its blank line arrives (comments skipped)."""
    data: list[str] = []
    for line in lines:
        if line == "":
            if data:
                yield SSEMessage("\n".join(data), clock())
                data = []
            continue
        if line.startswith(":"):
            continue
        if line.startswith("data:"):
            data.append(line[5:].lstrip(" "))
    if data:
        yield SSEMessage("\n".join(data), clock())


def parse_sse_text(text: str) -> list[SSEMessage]:
    return parse_sse_lines(text.replace("\r\n", "\n").split("\n"))


def check_stream(messages: list[SSEMessage]) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """Validate every frame; returns (chunks, error frame or None). A complete stream ends in [DONE]."""
    chunks: list[dict[str, Any]] = []
    for position, message in enumerate(messages):
        if message.data == "[DONE]":
            assert position == len(messages) - 1, "frames after [DONE]"
            return chunks, None
        payload = message.json()
        if "error" in payload:
            assert_error(payload)
            assert position == len(messages) - 1, "frames after an error frame"
            return chunks, payload
        chunks.append(assert_chunk(payload))
    raise AssertionError("stream ended without [DONE] or an error frame (silent truncation)")


def assemble(chunks: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """Join deltas per choice: content, reasoning, tool calls (by index), finish_reason."""
    choices: dict[int, dict[str, Any]] = {}
    for chunk in chunks:
        for choice in chunk["choices"]:
            slot = choices.setdefault(
                choice["index"], {"content": "", "tool_calls": {}, "finish_reason": None, "role": None}
            )
            delta = choice.get("delta") or {}
            if delta.get("role"):
                slot["role"] = delta["role"]
            if delta.get("content"):
                slot["content"] += delta["content"]
            if delta.get("reasoning_content"):
                slot["reasoning_content"] = slot.get("reasoning_content", "") + delta["reasoning_content"]
            for call in delta.get("tool_calls") or []:
                entry = slot["tool_calls"].setdefault(call["index"], {"id": None, "name": "", "arguments": ""})
                if call.get("id"):
                    entry["id"] = call["id"]
                function = call.get("function") or {}
                if function.get("name"):
                    entry["name"] += function["name"]
                if function.get("arguments"):
                    entry["arguments"] += function["arguments"]
            if choice.get("finish_reason"):
                slot["finish_reason"] = choice["finish_reason"]
    return choices
