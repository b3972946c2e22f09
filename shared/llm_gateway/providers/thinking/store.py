"""Where thinking blocks wait for the tool results that continue their turn: DynamoDB StateTable, or
process memory (local runs, or no table configured).

One item per answer that called tools while thinking, found by the answer's first tool-call id within
the caller's key: ``pk = thinking#<sha256 of ["v1", caller key id, tool-call id]>``, ``sk = thinking``
(structured parts hashed, so no id can reach into another caller's entries). The value is the blocks as
zlib-compressed JSON, and ``expires_at`` (StateTable's TTL attribute) ends it; reads check ``expires_at``
themselves, since DynamoDB deletes expired items only eventually.
"""

from __future__ import annotations

import hashlib
import logging
import zlib
from abc import ABC, abstractmethod
from collections import OrderedDict
from typing import Any

import orjson

from llm_gateway.aws.state_table import AsyncTable, TableUnavailable, to_attr

log = logging.getLogger("llm_gateway.providers.thinking")

KEY_PREFIX = "thinking#"
MAX_ITEM_BYTES = 350_000
"""Compressed; DynamoDB's item limit is 400 KB. Larger thinking is not kept (the turn then drops it)."""

Blocks = list[dict[str, Any]]


def entry_key(caller: str, tool_call_id: str) -> str:
    digest = hashlib.sha256(orjson.dumps(["v1", caller, tool_call_id])).hexdigest()
    return KEY_PREFIX + digest


class ThinkingStore(ABC):
    @abstractmethod
    async def put(self, key: str, blocks: Blocks, *, expires_at: float) -> None:
        """Keep ``blocks`` under ``key`` until ``expires_at`` (epoch seconds). Never raises."""

    @abstractmethod
    async def get(self, key: str, *, now: float) -> Blocks | None:
        """The blocks under ``key`` if still live, else ``None``. Never raises."""


class MemoryThinkingStore(ThinkingStore):
    """Per process, bounded (oldest entries go first)."""

    def __init__(self, max_entries: int = 10_000) -> None:
        self._entries: OrderedDict[str, tuple[float, Blocks]] = OrderedDict()
        self._max = max_entries

    async def put(self, key: str, blocks: Blocks, *, expires_at: float) -> None:
        self._entries[key] = (expires_at, blocks)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    async def get(self, key: str, *, now: float) -> Blocks | None:
        found = self._entries.get(key)
        if found is None or found[0] <= now:
            return None
        return found[1]


class DynamoThinkingStore(ThinkingStore):
    def __init__(self, table: AsyncTable) -> None:
        self.table = table

    @staticmethod
    def _key(key: str) -> dict[str, Any]:
        return {"pk": {"S": key}, "sk": {"S": "thinking"}}

    async def put(self, key: str, blocks: Blocks, *, expires_at: float) -> None:
        payload = zlib.compress(orjson.dumps(blocks), 6)
        if len(payload) > MAX_ITEM_BYTES:
            log.warning("thinking blocks too large to keep", extra={"fields": {"bytes": len(payload)}})
            return
        item = {**self._key(key), "payload": to_attr(payload), "expires_at": to_attr(int(expires_at) + 1)}
        try:
            await self.table.call("put_item", Item=item)
        except TableUnavailable as exc:
            log.warning("thinking blocks not kept: %s", exc)

    async def get(self, key: str, *, now: float) -> Blocks | None:
        try:
            found = await self.table.call("get_item", Key=self._key(key), ConsistentRead=True)
        except TableUnavailable as exc:
            log.warning("thinking blocks not read: %s", exc)
            return None
        item = found.get("Item")
        if not item or float(item.get("expires_at", {}).get("N", 0)) <= now:
            return None
        try:
            blocks = orjson.loads(zlib.decompress(item["payload"]["B"]))
        except (KeyError, zlib.error, orjson.JSONDecodeError):
            return None
        return blocks if isinstance(blocks, list) else None


def build_thinking_store(table: AsyncTable | None) -> ThinkingStore:
    """StateTable when the deployment has one (every instance then sees what another kept), else memory."""
    return DynamoThinkingStore(table) if table is not None else MemoryThinkingStore()
