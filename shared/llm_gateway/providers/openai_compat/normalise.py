"""Whatever an OpenAI-compatible server sent -> OpenAI's exact Chat Completions shape, by rule.

Servers that call themselves OpenAI-compatible differ from OpenAI in ways that break strict clients and
the openai SDKs' own stream helpers. The rules, for any server (no case per vendor):

==========================================  ===========================================================
What a server may send                      What the client gets
==========================================  ===========================================================
``usage`` on a chunk that has ``choices``   that chunk without it; the usage in one last chunk with
(or several usage reports, or only inside   ``choices: []`` (the last report wins), OpenAI's counters only
a vendor object such as ``x_groq``)
a chunk with empty ``choices`` and no       nothing (Azure's content-filter chunk: ``object: ""``,
usage                                       ``id: ""``, ``created: 0``)
empty or changing ``id`` / ``created`` /    the stream's first real values on every chunk
``model``; no ``object``
``content: [{type: thinking}, {type:        ``content`` string, thinking in ``reasoning_content``
text}]``; ``reasoning`` for the reasoning
tool-call deltas without ``index``,         OpenAI's numbering: 0, 1, 2... per choice in order of first
indexes from 1, one index reused for        appearance; the first delta of a call has ``index``, ``id``
several calls, ``id`` / ``name`` repeated   (made up when missing), ``type: "function"`` and the name;
on every delta, arguments as an object      the next ones only ``index`` and argument text
a first delta without ``role``;             ``role: "assistant"`` on each choice's first delta and only
``role`` repeated                           there
``finish_reason`` outside OpenAI's five     mapped (``end_turn`` -> ``stop``, ``max_tokens`` ->
                                            ``length``...), unknown -> ``stop``
``service_tier`` outside OpenAI's enum;     dropped
``system_fingerprint: null``; nulls for
``tool_calls`` / ``function_call``
==========================================  ===========================================================

Fields this gateway does not know are left alone, so what OpenAI adds tomorrow still reaches clients.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from llm_gateway.providers.wire import (
    arguments_text,
    clean_identity,
    clean_usage,
    finish_reason,
    fold_message_fields,
    new_tool_call_id,
)


@dataclass
class _Call:
    index: int
    id: str
    named: bool


@dataclass
class _Choice:
    role_sent: bool = False
    calls: list[_Call] = field(default_factory=list)
    by_id: dict[str, _Call] = field(default_factory=dict)
    by_upstream_index: dict[int, _Call] = field(default_factory=dict)


def _tool_call(raw: dict[str, Any], slot: _Call, first: bool) -> dict[str, Any]:
    function: dict[str, Any] = raw["function"] if isinstance(raw.get("function"), dict) else {}
    name = function.get("name")
    out_function: dict[str, Any] = {}
    if first:
        out_function["name"] = name if isinstance(name, str) else ""
        slot.named = bool(out_function["name"])
    elif isinstance(name, str) and name and not slot.named:
        out_function["name"] = name  # a server that names the call after its first delta
        slot.named = True
    arguments = arguments_text(function.get("arguments"))
    if first or arguments:
        out_function["arguments"] = arguments
    out: dict[str, Any] = {"index": slot.index}
    if first:
        out.update(id=slot.id, type="function")
    out["function"] = out_function
    return out


class _ToolCalls:
    """One choice's tool calls, renumbered as OpenAI numbers them."""

    def __init__(self, choice: _Choice) -> None:
        self.choice = choice

    def slot(self, raw: dict[str, Any]) -> tuple[_Call, bool]:
        """The call this delta belongs to, and whether it starts it."""
        state = self.choice
        raw_id = raw.get("id") if isinstance(raw.get("id"), str) and raw.get("id") else None
        raw_index = raw.get("index") if isinstance(raw.get("index"), int) else None
        if raw_id is not None and raw_id in state.by_id:
            return state.by_id[raw_id], False
        if raw_id is None and raw_index is not None and raw_index in state.by_upstream_index:
            return state.by_upstream_index[raw_index], False
        if raw_id is None and raw_index is None and state.calls:
            return state.calls[-1], False
        call = _Call(index=len(state.calls), id=raw_id or new_tool_call_id(), named=False)
        state.calls.append(call)
        state.by_id[call.id] = call
        if raw_index is not None:
            state.by_upstream_index[raw_index] = call
        return call, True

    def deltas(self, raws: list[Any]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for raw in raws:
            if not isinstance(raw, dict):
                continue
            slot, first = self.slot(raw)
            delta = _tool_call(raw, slot, first)
            if first or delta["function"]:
                out.append(delta)
        return out


def normalise_delta(delta: dict[str, Any], choice: _Choice) -> None:
    """One choice's delta, in place."""
    fold_message_fields(delta)
    if not choice.role_sent:
        delta["role"] = "assistant"
        choice.role_sent = True
    else:
        delta.pop("role", None)
    raws = delta.get("tool_calls")
    if isinstance(raws, list):
        calls = _ToolCalls(choice).deltas(raws)
        if calls:
            delta["tool_calls"] = calls
        else:
            del delta["tool_calls"]


def _vendor_usage(chunk: dict[str, Any]) -> Any:
    """Usage a server reports only inside its own extension object (``x_groq: {usage: ...}``)."""
    for key, value in chunk.items():
        if key.startswith("x_") and isinstance(value, dict) and isinstance(value.get("usage"), dict):
            return value["usage"]
    return None


class ChunkNormaliser:
    """Per-stream state: chunks in as the server sent them, chunks out as OpenAI sends them."""

    def __init__(self, fallback_id: str, fallback_model: str, now: int) -> None:
        self._fallback_id = fallback_id
        self._fallback_model = fallback_model
        self._now = now
        self.id: str | None = None
        self.created: int | None = None
        self.model: str | None = None
        self._choices: dict[int, _Choice] = {}
        self._usage: dict[str, Any] | None = None
        self._extras: dict[str, Any] = {}

    def _identity(self, chunk: dict[str, Any]) -> None:
        if self.id is None:
            raw_id, created, model = chunk.get("id"), chunk.get("created"), chunk.get("model")
            self.id = raw_id if isinstance(raw_id, str) and raw_id else self._fallback_id
            ok_created = isinstance(created, int) and not isinstance(created, bool) and created > 0
            self.created = created if ok_created else self._now
            self.model = model if isinstance(model, str) and model else self._fallback_model
        chunk["id"], chunk["object"], chunk["created"], chunk["model"] = (
            self.id,
            "chat.completion.chunk",
            self.created,
            self.model,
        )
        clean_identity(chunk)
        for key in ("system_fingerprint", "service_tier"):
            if key in chunk:
                self._extras[key] = chunk[key]

    def feed(self, chunk: dict[str, Any]) -> list[dict[str, Any]]:
        """The chunk as OpenAI would send it, or nothing (a usage report is held for :meth:`finish`)."""
        raw = chunk.pop("usage", None)
        usage = clean_usage(raw if raw is not None else _vendor_usage(chunk))
        if usage is not None:
            self._usage = usage
        choices = chunk["choices"]
        if not choices:
            return []
        self._identity(chunk)
        for position, choice in enumerate(choices):
            index = choice.get("index")
            if not isinstance(index, int) or isinstance(index, bool):
                index = choice["index"] = position
            state = self._choices.setdefault(index, _Choice())
            delta = choice.get("delta")
            if not isinstance(delta, dict):
                delta = choice["delta"] = {}
            normalise_delta(delta, state)
            choice.setdefault("logprobs", None)
            choice["finish_reason"] = finish_reason(choice.get("finish_reason"))
        return [chunk]

    def finish(self) -> list[dict[str, Any]]:
        """The usage chunk (``choices: []``), if the server reported usage."""
        if self._usage is None:
            return []
        usage, self._usage = self._usage, None
        chunk: dict[str, Any] = {
            "id": self.id or self._fallback_id,
            "object": "chat.completion.chunk",
            "created": self.created or self._now,
            "model": self.model or self._fallback_model,
        }
        chunk.update(self._extras)
        chunk.update(choices=[], usage=usage)
        return [chunk]


def normalise_completion(data: dict[str, Any], fallback_id: str, fallback_model: str, now: int) -> dict[str, Any]:
    """A non-stream body (already known to be a dict with a ``choices`` list) as OpenAI's, in place."""
    data["object"] = "chat.completion"
    if not isinstance(data.get("id"), str) or not data["id"]:
        data["id"] = fallback_id
    created = data.get("created")
    if not isinstance(created, int) or isinstance(created, bool) or created <= 0:
        data["created"] = now
    if not isinstance(data.get("model"), str) or not data["model"]:
        data["model"] = fallback_model
    clean_identity(data)
    if "usage" in data:
        usage = clean_usage(data["usage"])
        if usage is None:
            del data["usage"]
        else:
            data["usage"] = usage
    for position, choice in enumerate(data["choices"]):
        if not isinstance(choice, dict):
            continue
        if not isinstance(choice.get("index"), int):
            choice["index"] = position
        choice["finish_reason"] = finish_reason(choice.get("finish_reason")) or "stop"
        choice.setdefault("logprobs", None)
        message = choice.get("message")
        if not isinstance(message, dict):
            message = choice["message"] = {}
        _normalise_message(message)
    return data


def _normalise_message(message: dict[str, Any]) -> None:
    fold_message_fields(message)
    message["role"] = "assistant"
    message.setdefault("content", None)
    message.setdefault("refusal", None)
    calls = message.get("tool_calls")
    if isinstance(calls, list):
        fixed = []
        for call in calls:
            if not isinstance(call, dict):
                continue
            function: dict[str, Any] = call["function"] if isinstance(call.get("function"), dict) else {}
            name = function.get("name")
            call_id = call.get("id")
            fixed.append(
                {
                    **call,
                    "id": call_id if isinstance(call_id, str) and call_id else new_tool_call_id(),
                    "type": "function",
                    "function": {
                        **function,
                        "name": name if isinstance(name, str) else "",
                        "arguments": arguments_text(function.get("arguments")) or "{}",
                    },
                }
            )
        if fixed:
            message["tool_calls"] = fixed
        else:
            del message["tool_calls"]
