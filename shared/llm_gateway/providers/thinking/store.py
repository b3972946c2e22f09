"""Where thinking blocks wait for the tool results that continue their turn: the StateTable, or a table
in process memory (local runs, or no table configured).

One item per answer that called tools while thinking, found by the answer's first tool-call id within
the caller's key: ``pk = thinking#<sha256 of ["v1", caller key id, tool-call id]>``, ``sk = thinking``
(structured parts hashed, so no id can reach into another caller's entries). The value is the blocks as
zlib-compressed JSON, and ``expires_at`` (StateTable's TTL attribute) ends it; reads check ``expires_at``
themselves, since DynamoDB deletes expired items only eventually.
"""

from __future__ import annotations

import logging
import zlib
from typing import Any

import orjson

from llm_gateway.scopes import THINKING_PREFIX
from llm_gateway.tables.base import Table, TableUnavailable
from llm_gateway.tables.memory import MemoryTable

log = logging.getLogger("llm_gateway.providers.thinking")

SORT_KEY = "thinking"
MAX_ITEM_BYTES = 350_000
"""Compressed; DynamoDB's item limit is 400 KB. Larger thinking is not kept (the turn then drops it)."""
MEMORY_ENTRIES = 10_000
"""Entries a process keeps without a table (the oldest go first)."""

Blocks = list[dict[str, Any]]


class ThinkingStore:
    """Thinking blocks over one table; neither verb raises (a lost entry only turns thinking off once)."""

    def __init__(self, table: Table) -> None:
        self.table = table

    async def put(self, key: str, blocks: Blocks, *, expires_at: float) -> None:
        """Keep ``blocks`` under ``key`` until ``expires_at`` (epoch seconds)."""
        payload = zlib.compress(orjson.dumps(blocks), 6)
        if len(payload) > MAX_ITEM_BYTES:
            log.warning("thinking blocks too large to keep", extra={"fields": {"bytes": len(payload)}})
            return
        item = {"pk": key, "sk": SORT_KEY, "payload": payload, "expires_at": int(expires_at) + 1}
        try:
            await self.table.put(item)
        except TableUnavailable as exc:
            log.warning("thinking blocks not kept: %s", exc)

    async def get(self, key: str, *, now: float) -> Blocks | None:
        """The blocks under ``key`` if still live, else ``None``."""
        try:
            item = await self.table.get(key, SORT_KEY, consistent=True)
        except TableUnavailable as exc:
            log.warning("thinking blocks not read: %s", exc)
            return None
        if not item or float(item.get("expires_at") or 0) <= now:
            return None
        payload = item.get("payload")
        if not isinstance(payload, bytes):
            return None
        try:
            blocks = orjson.loads(zlib.decompress(payload))
        except (zlib.error, orjson.JSONDecodeError):
            return None
        return blocks if isinstance(blocks, list) else None


def memory_thinking_store() -> ThinkingStore:
    """Per process, bounded."""
    return ThinkingStore(MemoryTable(capped_prefix=THINKING_PREFIX, cap=MEMORY_ENTRIES, name="thinking"))


def build_thinking_store(table: Table | None) -> ThinkingStore:
    """StateTable when the deployment has one (every instance then sees what another kept), else memory."""
    return ThinkingStore(table) if table is not None else memory_thinking_store()
