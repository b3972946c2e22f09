"""Claude's thinking blocks, carried through the OpenAI format as ``thinking_blocks`` (LiteLLM's extension).

With thinking on, Claude requires the last assistant turn before a tool result to start with its
(signed) thinking block. OpenAI messages have no slot for it, so responses carry
``thinking_blocks: [{"type": "thinking", "thinking", "signature"} | {"type": "redacted_thinking", "data"}]``
and an assistant message that sends them back gets them as ``reasoningContent`` blocks again.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from llm_gateway.errors import InvalidRequestError


def thinking_block(reasoning: dict[str, Any]) -> dict[str, Any] | None:
    """A Converse ``reasoningContent`` block -> an OpenAI-extension thinking block."""
    redacted = reasoning.get("redactedContent")
    if isinstance(redacted, bytes | bytearray) and redacted:
        return {"type": "redacted_thinking", "data": base64.b64encode(redacted).decode()}
    text_block = reasoning.get("reasoningText") or {}
    if not text_block.get("text") and not text_block.get("signature"):
        return None
    block: dict[str, Any] = {"type": "thinking", "thinking": str(text_block.get("text") or "")}
    if text_block.get("signature"):
        block["signature"] = str(text_block["signature"])
    return block


def reasoning_blocks(thinking_blocks: Any, param: str) -> list[dict[str, Any]]:
    """An assistant message's ``thinking_blocks`` -> Converse ``reasoningContent`` blocks."""
    if not isinstance(thinking_blocks, list):
        return []
    out: list[dict[str, Any]] = []
    for k, block in enumerate(thinking_blocks):
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "thinking":
            text: dict[str, Any] = {"text": str(block.get("thinking") or "")}
            if block.get("signature"):
                text["signature"] = str(block["signature"])
            out.append({"reasoningContent": {"reasoningText": text}})
        elif kind == "redacted_thinking":
            try:
                data = base64.b64decode(str(block.get("data") or ""), validate=True)
            except (binascii.Error, ValueError):
                raise InvalidRequestError(
                    "A redacted_thinking block's 'data' is not valid base64.",
                    param=f"{param}[{k}].data",
                    code="invalid_value",
                ) from None
            out.append({"reasoningContent": {"redactedContent": data}})
    return out
