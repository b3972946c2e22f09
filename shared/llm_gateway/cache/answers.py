"""One stored form for both wire formats: the ``chat.completion`` object.

A streamed answer is assembled into a completion on the side while its chunks go to the client; a hit
for a stream request is replayed as chunks derived from the stored completion. Both directions keep
text, reasoning, refusals, tool calls (indices, ids, names, arguments), legacy function calls,
annotations, logprobs, finish reasons and usage. Anything else in a delta or message (audio, say) makes
the answer "not storable" or "not replayable" rather than silently lossy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

STORABLE_FINISH_REASONS = frozenset({"stop", "length", "tool_calls", "function_call"})
_TEXT_FIELDS = ("content", "reasoning_content", "refusal")
_KNOWN_DELTA_FIELDS = frozenset({"role", *_TEXT_FIELDS, "tool_calls", "function_call", "annotations"})
_KNOWN_MESSAGE_FIELDS = _KNOWN_DELTA_FIELDS
_TOP_LEVEL_COPIED = ("system_fingerprint", "service_tier")
REPLAY_PIECE_CHARS = 2000


def is_complete(completion: dict[str, Any], expected_choices: int) -> bool:
    """A whole, successful answer: every choice there and finished for a storable reason."""
    choices = completion.get("choices")
    if not isinstance(choices, list) or len(choices) != expected_choices:
        return False
    indices = set()
    for choice in choices:
        if not isinstance(choice, dict) or choice.get("finish_reason") not in STORABLE_FINISH_REASONS:
            return False
        indices.add(choice.get("index"))
    return indices == set(range(expected_choices))


# --- stream -> completion ---------------------------------------------------------------------------


@dataclass
class _ToolCall:
    id: str | None = None
    type: str = "function"
    name: str = ""
    arguments: str = ""


@dataclass
class _Choice:
    role: str = "assistant"
    text: dict[str, list[str]] = field(default_factory=dict)
    tool_calls: dict[int, _ToolCall] = field(default_factory=dict)
    function_call: _ToolCall | None = None
    annotations: list[Any] = field(default_factory=list)
    logprobs: dict[str, list[Any]] | None = None
    finish_reason: str | None = None

    def message(self) -> dict[str, Any]:
        content = "".join(self.text.get("content", []))
        refusal = "".join(self.text.get("refusal", [])) or None
        something_else = bool(self.tool_calls or self.function_call or refusal)
        message: dict[str, Any] = {"role": self.role, "content": content or (None if something_else else "")}
        message["refusal"] = refusal
        if "reasoning_content" in self.text:
            message["reasoning_content"] = "".join(self.text["reasoning_content"])
        if self.tool_calls:
            message["tool_calls"] = [
                {"id": call.id, "type": call.type, "function": {"name": call.name, "arguments": call.arguments}}
                for _, call in sorted(self.tool_calls.items())
            ]
        if self.function_call is not None:
            message["function_call"] = {"name": self.function_call.name, "arguments": self.function_call.arguments}
        if self.annotations:
            message["annotations"] = self.annotations
        return message


class StreamAssembler:
    """Collects chunks; :meth:`completion` is the equivalent ``chat.completion`` (or ``None`` if the
    stream held something this cache cannot store faithfully)."""

    def __init__(self) -> None:
        self._choices: dict[int, _Choice] = {}
        self._top: dict[str, Any] = {}
        self._usage: Any = None
        self.storable = True

    def feed(self, chunk: dict[str, Any]) -> None:
        if not self.storable:
            return
        for name in ("id", "created", "model", *_TOP_LEVEL_COPIED):
            if chunk.get(name) is not None and name not in self._top:
                self._top[name] = chunk[name]
        if chunk.get("usage"):
            self._usage = chunk["usage"]
        for choice in chunk.get("choices") or []:
            try:
                self._feed_choice(choice)
            except (TypeError, ValueError, AttributeError):
                self.storable = False
                return

    def _feed_choice(self, choice: dict[str, Any]) -> None:
        slot = self._choices.setdefault(int(choice.get("index", 0)), _Choice())
        delta = choice.get("delta") or {}
        if any(value is not None for name, value in delta.items() if name not in _KNOWN_DELTA_FIELDS):
            self.storable = False
            return
        if delta.get("role"):
            slot.role = delta["role"]
        for name in _TEXT_FIELDS:
            if isinstance(delta.get(name), str):
                slot.text.setdefault(name, []).append(delta[name])
        for call in delta.get("tool_calls") or []:
            entry = slot.tool_calls.setdefault(int(call["index"]), _ToolCall())
            _merge_call(entry, call)
        if delta.get("function_call"):
            slot.function_call = slot.function_call or _ToolCall()
            _merge_call(slot.function_call, {"function": delta["function_call"]})
        if delta.get("annotations"):
            slot.annotations.extend(delta["annotations"])
        logprobs = choice.get("logprobs")
        if isinstance(logprobs, dict):
            slot.logprobs = slot.logprobs or {}
            for name in ("content", "refusal"):
                if isinstance(logprobs.get(name), list):
                    slot.logprobs.setdefault(name, []).extend(logprobs[name])
        if choice.get("finish_reason"):
            slot.finish_reason = choice["finish_reason"]

    def completion(self) -> dict[str, Any] | None:
        if not self.storable or not self._choices:
            return None
        choices = []
        for index, slot in sorted(self._choices.items()):
            logprobs = None
            if slot.logprobs is not None:
                logprobs = {"content": slot.logprobs.get("content"), "refusal": slot.logprobs.get("refusal")}
            choices.append(
                {"index": index, "message": slot.message(), "logprobs": logprobs, "finish_reason": slot.finish_reason}
            )
        completion: dict[str, Any] = {
            "id": self._top.get("id", ""),
            "object": "chat.completion",
            "created": self._top.get("created", 0),
            "model": self._top.get("model", ""),
            "choices": choices,
        }
        if self._usage is not None:
            completion["usage"] = self._usage
        for name in _TOP_LEVEL_COPIED:
            if name in self._top:
                completion[name] = self._top[name]
        return completion


def _merge_call(entry: _ToolCall, call: dict[str, Any]) -> None:
    if call.get("id"):
        entry.id = call["id"]
    if call.get("type"):
        entry.type = call["type"]
    function = call.get("function") or {}
    if function.get("name"):
        entry.name += function["name"]
    if function.get("arguments"):
        entry.arguments += function["arguments"]


# --- completion -> stream ---------------------------------------------------------------------------


def replayable(completion: dict[str, Any]) -> bool:
    """Whether :func:`completion_chunks` can express every part of this answer."""
    for choice in completion.get("choices") or []:
        message = choice.get("message") or {}
        if any(value is not None for name, value in message.items() if name not in _KNOWN_MESSAGE_FIELDS):
            return False
    return True


def _pieces(text: str) -> list[str]:
    return [text[i : i + REPLAY_PIECE_CHARS] for i in range(0, len(text), REPLAY_PIECE_CHARS)] or [""]


def _choice_deltas(choice: dict[str, Any]) -> list[tuple[dict[str, Any], Any]]:
    """(delta, logprobs) pairs for one choice, before its finish chunk."""
    message = choice.get("message") or {}
    logprobs = choice.get("logprobs")
    tool_calls = message.get("tool_calls") or []
    content = message.get("content")
    out: list[tuple[dict[str, Any], Any]] = [
        ({"role": message.get("role") or "assistant", "content": "" if content is not None else None}, None)
    ]
    if message.get("reasoning_content"):
        out.extend(({"reasoning_content": piece}, None) for piece in _pieces(message["reasoning_content"]))
    if content:
        pieces = _pieces(content)
        out.append(({"content": pieces[0]}, logprobs))
        logprobs = None
        out.extend(({"content": piece}, None) for piece in pieces[1:])
    if message.get("refusal"):
        out.append(({"refusal": message["refusal"]}, logprobs))
        logprobs = None
    for position, call in enumerate(tool_calls):
        function = call.get("function") or {}
        out.append(
            (
                {
                    "tool_calls": [
                        {
                            "index": position,
                            "id": call.get("id"),
                            "type": call.get("type", "function"),
                            "function": {"name": function.get("name", ""), "arguments": function.get("arguments", "")},
                        }
                    ]
                },
                None,
            )
        )
    if message.get("function_call"):
        out.append(({"function_call": message["function_call"]}, None))
    if message.get("annotations"):
        out.append(({"annotations": message["annotations"]}, None))
    if logprobs is not None:
        out[0] = (out[0][0], logprobs)
    return out


def completion_chunks(completion: dict[str, Any], *, include_usage: bool) -> list[dict[str, Any]]:
    """The stream equivalent of ``completion``: per choice a role chunk, the content, tool calls and a
    finish chunk; then a usage chunk (the streaming layer drops it unless the client asked for usage)."""
    base: dict[str, Any] = {
        "id": completion.get("id"),
        "object": "chat.completion.chunk",
        "created": completion.get("created"),
        "model": completion.get("model"),
    }
    for name in _TOP_LEVEL_COPIED:
        if completion.get(name) is not None:
            base[name] = completion[name]
    usage_field: dict[str, Any] = {"usage": None} if include_usage else {}

    def chunk(index: int, delta: dict[str, Any], logprobs: Any = None, finish: str | None = None) -> dict[str, Any]:
        return {
            **base,
            "choices": [{"index": index, "delta": delta, "logprobs": logprobs, "finish_reason": finish}],
            **usage_field,
        }

    chunks: list[dict[str, Any]] = []
    for choice in completion.get("choices") or []:
        index = int(choice.get("index", 0))
        chunks.extend(chunk(index, delta, logprobs) for delta, logprobs in _choice_deltas(choice))
        chunks.append(chunk(index, {}, None, choice.get("finish_reason")))
    if completion.get("usage"):
        chunks.append({**base, "choices": [], "usage": completion["usage"]})
    return chunks
