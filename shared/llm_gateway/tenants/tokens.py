"""Token estimates for admission (before the call) and for streams the client cut short.

No tokenizer: about four characters per token for English text and code, plus a few tokens of framing
per message, as OpenAI's own guidance approximates. Admission uses it only to decide whether a request
fits the tokens-per-minute quota; the real usage replaces the estimate once the answer is known.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

CHARS_PER_TOKEN = 4
TOKENS_PER_MESSAGE = 4


def text_tokens(text: str) -> int:
    return (len(text) + CHARS_PER_TOKEN - 1) // CHARS_PER_TOKEN


def content_texts(message: Any) -> Iterator[str]:
    """The text of one message: a string content, or the text of its text parts."""
    content = message.get("content") if isinstance(message, dict) else None
    if isinstance(content, str):
        yield content
    elif isinstance(content, list):
        for part in content:
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                yield part["text"]


def message_texts(messages: list[Any]) -> Iterator[str]:
    """Everything in the messages that costs tokens: texts and tool calls."""
    for message in messages:
        yield from content_texts(message)
        for call in (message.get("tool_calls") if isinstance(message, dict) else None) or []:
            if isinstance(call, dict):
                yield orjson.dumps(call.get("function") or {}).decode()


def prompt_tokens(body: dict[str, Any]) -> int:
    messages = body.get("messages") or []
    tokens = sum(text_tokens(text) for text in message_texts(messages)) + TOKENS_PER_MESSAGE * len(messages)
    if body.get("tools"):
        tokens += text_tokens(orjson.dumps(body["tools"]).decode())
    return tokens


MEDIA_PART_TOKENS = 2_000
"""What a budget reservation assumes an image, audio or file part of a prompt costs (a detailed image is
about 1,100 to 1,600 tokens at the providers we translate for)."""


def prompt_bound(body: dict[str, Any]) -> int:
    """An upper bound on the prompt's tokens, for budget reservations: one token per byte of the messages'
    and tools' JSON (a token is at least one byte of text in every byte-level tokenizer), plus
    :data:`MEDIA_PART_TOKENS` for each part that is not text."""
    messages = body.get("messages") or []
    size = len(orjson.dumps(messages)) + (len(orjson.dumps(body["tools"])) if body.get("tools") else 0)
    media = 0
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list):
            media += sum(1 for part in content if isinstance(part, dict) and part.get("type") not in (None, "text"))
    return size + MEDIA_PART_TOKENS * media


def completion_budget(body: dict[str, Any], default: int) -> int:
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    per_choice = int(limit) if isinstance(limit, int) and limit > 0 else default
    return per_choice * int(body.get("n") or 1)


def request_estimate(body: dict[str, Any], default_completion: int) -> int:
    return prompt_tokens(body) + completion_budget(body, default_completion)


def chunk_text(chunk: dict[str, Any]) -> str:
    pieces = []
    for choice in chunk.get("choices") or []:
        delta = choice.get("delta") or {}
        for name in ("content", "reasoning_content", "refusal"):
            if isinstance(delta.get(name), str):
                pieces.append(delta[name])
        for call in delta.get("tool_calls") or []:
            arguments = (call.get("function") or {}).get("arguments")
            if isinstance(arguments, str):
                pieces.append(arguments)
    return "".join(pieces)
