"""OpenAI's Chat Completions wire format, as rules every provider's output is held to.

Pure functions over the values of one field, shared by the OpenAI-compatible pass-through (which applies
them to whatever a server sent) and by the translating providers (which build their answers with them):

- ``finish_reason`` is one of OpenAI's five values (:func:`finish_reason`);
- ``service_tier`` is one of OpenAI's tiers or absent; ``system_fingerprint`` is a string or absent;
- ``usage`` holds OpenAI's counters only, cache reads and writes in ``prompt_tokens_details``
  (:func:`clean_usage`);
- ``content`` is a string: typed parts are folded, thinking parts into ``reasoning_content``
  (:func:`fold_content`).
"""

from __future__ import annotations

from typing import Any

from llm_gateway.ids import random_hex

FINISH_REASONS = frozenset({"stop", "length", "tool_calls", "content_filter", "function_call"})
_FINISH_SYNONYMS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "eos": "stop",
    "eos_token": "stop",
    "stop_token": "stop",
    "max_tokens": "length",
    "max_length": "length",
    "model_length": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "tool_call": "tool_calls",
    "function_calls": "tool_calls",
    "safety": "content_filter",
    "recitation": "content_filter",
    "content_filtered": "content_filter",
    "blocklist": "content_filter",
    "prohibited_content": "content_filter",
    "guardrail_intervened": "content_filter",
}
SERVICE_TIERS = frozenset({"auto", "default", "flex", "scale", "priority", "fast"})

_PROMPT_DETAILS = ("cached_tokens", "audio_tokens", "cache_write_tokens", "text_tokens", "image_tokens")
_COMPLETION_DETAILS = (
    "reasoning_tokens",
    "audio_tokens",
    "accepted_prediction_tokens",
    "rejected_prediction_tokens",
    "text_tokens",
)
# Where servers put cache counters when not in prompt_tokens_details (DeepSeek, Moonshot, Anthropic-style).
_CACHE_READ_ALIASES = ("prompt_cache_hit_tokens", "cached_tokens", "cache_read_input_tokens")
_CACHE_WRITE_ALIASES = ("cache_creation_input_tokens", "cache_write_tokens", "prompt_cache_write_tokens")
_THINKING_PARTS = frozenset({"thinking", "reasoning", "reasoning_text"})
_TEXT_PARTS = frozenset({"text", "output_text"})


def finish_reason(value: Any) -> str | None:
    """An upstream's finish reason as OpenAI's: synonyms mapped, anything unknown is ``stop``."""
    if value is None or value == "":
        return None
    reason = str(value).lower()
    if reason in FINISH_REASONS:
        return reason
    return _FINISH_SYNONYMS.get(reason, "stop")


def clean_identity(obj: dict[str, Any]) -> None:
    """Drop ``system_fingerprint`` / ``service_tier`` values outside OpenAI's schema (in place)."""
    if "system_fingerprint" in obj and not isinstance(obj["system_fingerprint"], str):
        del obj["system_fingerprint"]
    if "service_tier" in obj and obj["service_tier"] not in SERVICE_TIERS:
        del obj["service_tier"]


def _count(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _details(raw: Any, keys: tuple[str, ...]) -> dict[str, int]:
    if not isinstance(raw, dict):
        return {}
    out: dict[str, int] = {}
    for key in keys:
        count = _count(raw.get(key))
        if count is not None:
            out[key] = count
    return out


def clean_usage(raw: Any) -> dict[str, Any] | None:
    """An upstream's ``usage`` as OpenAI's ``CompletionUsage``: the three totals, the known details, cache
    reads as ``cached_tokens`` and writes as ``cache_write_tokens`` wherever the server put them; every
    other field (timings, costs, provider counters) dropped. ``None`` for something that is not usage."""
    if not isinstance(raw, dict):
        return None
    prompt = _count(raw.get("prompt_tokens"))
    completion = _count(raw.get("completion_tokens"))
    if prompt is None and completion is None:
        return None
    prompt, completion = prompt or 0, completion or 0
    total = _count(raw.get("total_tokens"))
    usage: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": total if total is not None else prompt + completion,
    }
    prompt_details = _details(raw.get("prompt_tokens_details"), _PROMPT_DETAILS)
    for target, aliases in (("cached_tokens", _CACHE_READ_ALIASES), ("cache_write_tokens", _CACHE_WRITE_ALIASES)):
        if target not in prompt_details:
            found = next((c for c in (_count(raw.get(a)) for a in aliases) if c is not None), None)
            if found is not None:
                prompt_details[target] = found
    if prompt_details:
        usage["prompt_tokens_details"] = prompt_details
    completion_details = _details(raw.get("completion_tokens_details"), _COMPLETION_DETAILS)
    if "reasoning_tokens" not in completion_details and _count(raw.get("reasoning_tokens")) is not None:
        completion_details["reasoning_tokens"] = int(raw["reasoning_tokens"])
    if completion_details:
        usage["completion_tokens_details"] = completion_details
    return usage


def _text_of(value: Any) -> str:
    """The text inside a part's value: a string, a ``{"text": ...}`` object, or a list of either."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return _text_of(value.get("text"))
    if isinstance(value, list):
        return "".join(_text_of(item) for item in value)
    return ""


def fold_content(content: Any) -> tuple[str | None, str | None]:
    """A ``content`` value -> ``(text, reasoning)``. A string is text; a list of typed parts gives the
    joined ``text`` parts and the joined ``thinking`` / ``reasoning`` parts (Mistral's reasoning models).
    Parts of other kinds (references, images) carry no text of the answer and are left out."""
    if content is None or isinstance(content, str):
        return content, None
    if not isinstance(content, list):
        return str(content), None
    texts: list[str] = []
    thoughts: list[str] = []
    for part in content:
        if isinstance(part, str):
            texts.append(part)
            continue
        if not isinstance(part, dict):
            continue
        kind = part.get("type")
        if kind in _THINKING_PARTS:
            thoughts.append(_text_of(part.get(kind) if kind in part else part.get("text")))
        elif kind in _TEXT_PARTS or (kind is None and "text" in part):
            texts.append(_text_of(part.get("text")))
    text = "".join(texts) if texts else None
    reasoning = "".join(thoughts) if thoughts else None
    return text, reasoning


def fold_message_fields(message: dict[str, Any]) -> None:
    """Fold typed ``content`` and the ``reasoning`` alias of a message or delta (in place): ``content``
    becomes a string (or goes), thinking joins ``reasoning_content``; null extension fields go."""
    if isinstance(message.get("content"), list):
        text, reasoning = fold_content(message["content"])
        if text is None:
            message.pop("content")
        else:
            message["content"] = text
        if reasoning:
            message["reasoning_content"] = (_text_of(message.get("reasoning_content")) or "") + reasoning
    alias = message.get("reasoning")
    if isinstance(alias, str):
        del message["reasoning"]
        if not isinstance(message.get("reasoning_content"), str):
            message["reasoning_content"] = alias
    for key in ("reasoning_content", "reasoning", "tool_calls", "function_call", "role"):
        if key in message and message[key] is None:
            del message[key]


def new_tool_call_id() -> str:
    """An id for a tool call an upstream sent without one (clients need one to answer the call)."""
    return f"call_{random_hex(96)}"


def arguments_text(arguments: Any) -> str:
    """Tool-call ``arguments`` as OpenAI's JSON string (some servers send an object)."""
    if arguments is None:
        return ""
    if isinstance(arguments, str):
        return arguments
    import orjson

    return orjson.dumps(arguments).decode()
