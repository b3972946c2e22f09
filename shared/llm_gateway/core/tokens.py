"""A cheap, deliberately low estimate of a prompt's token count (no tokenizer at cold start).

English prose runs about four characters per token with OpenAI's tokenizers; text in most other
scripts, code and JSON run denser. Counting four characters per token therefore rarely overestimates,
which is what the context-window pre-check needs: it only skips ahead when the prompt clearly does not
fit, and otherwise lets the upstream decide.
"""

from __future__ import annotations

from typing import Any

import orjson

CHARS_PER_TOKEN = 4
PER_MESSAGE_TOKENS = 3


def _text_chars(content: Any) -> int:
    if isinstance(content, str):
        return len(content)
    if isinstance(content, list):
        total = 0
        for part in content:
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                total += len(part["text"])
        return total
    return 0


def estimate_prompt_tokens(body: dict[str, Any]) -> int:
    chars = 0
    messages = body.get("messages") or []
    for message in messages:
        if not isinstance(message, dict):
            continue
        chars += _text_chars(message.get("content"))
        for call in message.get("tool_calls") or []:
            if isinstance(call, dict):
                chars += len(orjson.dumps(call.get("function") or {}))
    for key in ("tools", "functions"):
        if body.get(key):
            chars += len(orjson.dumps(body[key]))
    return chars // CHARS_PER_TOKEN + PER_MESSAGE_TOKENS * len(messages)


def estimate_text_tokens(chars: int) -> int:
    return (chars + CHARS_PER_TOKEN - 1) // CHARS_PER_TOKEN
