"""Usage for a stream that ended without the upstream's usage chunk (client gone, upstream failed).

The tokens were generated (and billed upstream) all the same, so the gateway records an estimate: about
one token per content delta (what OpenAI-style servers send) and never less than four characters a
token; the prompt at four characters a token. ``ctx.notes["usage_estimated"]`` marks such records.
"""

from __future__ import annotations

from typing import Any

_TEXT_FIELDS = ("content", "reasoning_content", "reasoning", "refusal")


def _chars_to_tokens(chars: int) -> int:
    return (chars + 3) // 4


class StreamedUsage:
    """Counts what a stream carried so far."""

    def __init__(self) -> None:
        self.deltas = 0
        self.chars = 0

    def add(self, chunk: dict[str, Any]) -> None:
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") if isinstance(choice, dict) else None
            if not isinstance(delta, dict):
                continue
            size = sum(len(v) for k in _TEXT_FIELDS if isinstance(v := delta.get(k), str))
            for call in delta.get("tool_calls") or ():
                function = call.get("function") if isinstance(call, dict) else None
                if isinstance(function, dict):
                    size += sum(len(v) for k in ("name", "arguments") if isinstance(v := function.get(k), str))
            if size:
                self.deltas += 1
                self.chars += size

    def completion_tokens(self) -> int:
        return max(self.deltas, _chars_to_tokens(self.chars))


def _text_chars(value: Any) -> int:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, list):
        return sum(_text_chars(part.get("text")) for part in value if isinstance(part, dict))
    return 0


def prompt_tokens(body: dict[str, Any]) -> int:
    messages = body.get("messages")
    if not isinstance(messages, list):
        return 0
    chars = sum(_text_chars(m.get("content")) for m in messages if isinstance(m, dict))
    return _chars_to_tokens(chars) + 4 * len(messages)


def estimated_usage(body: dict[str, Any] | None, streamed: StreamedUsage) -> dict[str, int]:
    prompt = prompt_tokens(body) if body is not None else 0
    completion = streamed.completion_tokens()
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
