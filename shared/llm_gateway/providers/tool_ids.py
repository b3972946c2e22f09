"""Tool-call ids that a provider accepts, derived deterministically from the client's ids.

OpenAI clients echo back whatever id the model produced, and some upstreams (Kimi, Fireworks,
MiniMax, ...) produce ids like ``functions.get_weather:0``. Anthropic requires ``^[a-zA-Z0-9_-]+$``;
Bedrock also caps the length at 64. The same function is applied to an assistant's ``tool_calls[].id``
and to the ``tool_call_id`` of the tool message answering it, so the pair always matches. Ids that are
already valid pass through unchanged (so ids the provider minted round-trip exactly); a changed id gets
a short hash of the original, so two ids that differ only in invalid characters never collide.
"""

from __future__ import annotations

import hashlib
import re

_INVALID = re.compile(r"[^A-Za-z0-9_-]")


def safe_tool_call_id(raw: str, *, max_length: int = 64) -> str:
    """``raw`` if it is already ``[A-Za-z0-9_-]{1,max_length}``, else a stable, collision-resistant rewrite."""
    if raw and len(raw) <= max_length and not _INVALID.search(raw):
        return raw
    digest = hashlib.sha256(raw.encode("utf-8")).hexdigest()[:10]
    cleaned = _INVALID.sub("_", raw).strip("_") or "call"
    keep = max_length - len(digest) - 1
    return f"{cleaned[:keep]}_{digest}"
