"""Where answers live: encoding, splitting, expiry and leases over a table (:mod:`llm_gateway.tables`):
the ``CacheTable`` of ``template.yaml`` on DynamoDB, or a bounded in-memory one (:func:`memory_cache_store`).

Items of one entry share the partition key ``cache#<key>``:

- ``sk = "entry"``: the head: ``created_at``, ``expires_at`` (the table's TTL attribute), ``parts``,
  ``gen`` and ``body`` (the zlib-compressed completion JSON, or its first slice);
- ``sk = "part#<gen>#<i>"``: further slices when the compressed answer is larger than one item may
  hold. They are written before the head, so a reader never finds a head without its parts; ``gen``
  keeps two writers' slices apart.
- ``sk = "lease"``: single flight's marker that one instance is fetching this answer.

DynamoDB deletes expired items late (moto never does), so every read checks ``expires_at`` itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import uuid
import zlib
from dataclasses import dataclass
from typing import Any

import orjson

from llm_gateway.tables.base import ConditionFailed, Table
from llm_gateway.tables.conditions import absent, below, equals
from llm_gateway.tables.memory import MemoryTable

Item = dict[str, Any]
OFF_LOOP_BYTES = 64 * 1024
HEAD = "entry"
LEASE = "lease"


@dataclass(frozen=True)
class CacheEntry:
    completion: dict[str, Any]
    created_at: float
    expires_at: float

    def age(self, now: float) -> int:
        return max(0, int(now - self.created_at))


class EntryTooLarge(Exception):
    """The compressed answer needs more items than ``max_parts``: it is not cached."""

    def __init__(self, size: int) -> None:
        super().__init__(f"compressed answer of {size} bytes is over the cache's size limit")
        self.size = size


def error_code(exc: BaseException | None) -> str | None:
    """The AWS error code of a botocore ``ClientError``, also when wrapped (``None`` for anything else)."""
    while exc is not None:
        response = getattr(exc, "response", None)
        if isinstance(response, dict):
            code = (response.get("Error") or {}).get("Code")
            return code if isinstance(code, str) else None
        exc = exc.__cause__
    return None


def partition_key(key: str) -> str:
    return f"cache#{key}"


class CacheStore:
    def __init__(
        self, table: Table, *, max_item_bytes: int = 350_000, max_parts: int = 4, compression_level: int = 6
    ) -> None:
        self.table = table
        self.max_item_bytes = max_item_bytes
        self.max_parts = max_parts
        self.compression_level = compression_level

    # --- storage ------------------------------------------------------------------------------------

    async def _get(self, pk: str, sk: str, *, consistent: bool = False) -> Item | None:
        return await self.table.get(pk, sk, consistent=consistent)

    async def _put(self, item: Item) -> None:
        await self.table.put(item)

    async def _put_lease(self, item: Item, now: float) -> bool:
        """Write ``item`` unless a lease whose ``lease_until`` is still ahead of ``now`` is there."""
        try:
            await self.table.put(item, condition=absent() | below("lease_until", round(now, 3)))
        except ConditionFailed:
            return False
        return True

    async def _delete_lease(self, pk: str, owner: str) -> None:
        """Delete the lease if ``owner`` still holds it."""
        with contextlib.suppress(ConditionFailed):  # someone else's lease by now: leave it
            await self.table.delete(pk, LEASE, condition=equals("owner", owner))

    def warm_up(self) -> None:
        self.table.warm_up()

    async def close(self) -> None:
        return None

    # --- entries ------------------------------------------------------------------------------------

    async def encode(self, completion: dict[str, Any]) -> bytes:
        """The compressed JSON; a large answer is compressed off the event loop (zlib releases the GIL)."""
        raw = orjson.dumps(completion)
        if len(raw) < OFF_LOOP_BYTES:
            return zlib.compress(raw, self.compression_level)
        return await asyncio.to_thread(zlib.compress, raw, self.compression_level)

    @staticmethod
    async def decode(body: bytes) -> dict[str, Any]:
        raw = (
            zlib.decompress(body) if len(body) < OFF_LOOP_BYTES // 4 else await asyncio.to_thread(zlib.decompress, body)
        )
        completion: dict[str, Any] = orjson.loads(raw)
        return completion

    async def lookup(self, key: str, now: float, *, consistent: bool = False) -> CacheEntry | None:
        pk = partition_key(key)
        head = await self._get(pk, HEAD, consistent=consistent)
        if head is None or float(head.get("expires_at", 0)) <= now:
            return None
        body = bytes(head["body"])
        parts = int(head.get("parts", 1))
        if parts > 1:
            gen = head["gen"]
            slices = await asyncio.gather(
                *(self._get(pk, f"part#{gen}#{i}", consistent=consistent) for i in range(1, parts))
            )
            if any(piece is None for piece in slices):
                return None
            body += b"".join(bytes(piece["body"]) for piece in slices if piece is not None)
        completion = await self.decode(body)
        return CacheEntry(completion, float(head["created_at"]), float(head["expires_at"]))

    async def save(self, key: str, completion: dict[str, Any], *, ttl: int, now: float) -> int:
        """Store the answer for ``ttl`` seconds; returns the compressed size. Raises :class:`EntryTooLarge`."""
        body = await self.encode(completion)
        parts = max(1, math.ceil(len(body) / self.max_item_bytes))
        if parts > self.max_parts:
            raise EntryTooLarge(len(body))
        pk = partition_key(key)
        expires_at = int(now) + ttl
        gen = uuid.uuid4().hex[:12]
        size = self.max_item_bytes
        if parts > 1:
            await asyncio.gather(
                *(
                    self._put(
                        {
                            "pk": pk,
                            "sk": f"part#{gen}#{i}",
                            "expires_at": expires_at,
                            "body": body[i * size : (i + 1) * size],
                        }
                    )
                    for i in range(1, parts)
                )
            )
        head = {
            "pk": pk,
            "sk": HEAD,
            "created_at": round(now, 3),
            "expires_at": expires_at,
            "parts": parts,
            "gen": gen,
            "body": body[:size],
        }
        await self._put(head)
        return len(body)

    # --- single-flight leases -----------------------------------------------------------------------

    async def claim(self, key: str, *, owner: str, until: float, now: float) -> bool:
        item = {
            "pk": partition_key(key),
            "sk": LEASE,
            "owner": owner,
            "lease_until": round(until, 3),
            "expires_at": math.ceil(until),
        }
        return await self._put_lease(item, now)

    async def release(self, key: str, *, owner: str) -> None:
        await self._delete_lease(partition_key(key), owner)

    async def leased(self, key: str, now: float) -> bool:
        lease = await self._get(partition_key(key), LEASE, consistent=True)
        return lease is not None and float(lease.get("lease_until", 0)) > now


def memory_cache_store(*, max_items: int = 10_000, **limits: Any) -> CacheStore:
    """A store in process memory (tests, local runs without DynamoDB), holding at most ``max_items`` items:
    the least recently written go first."""
    return CacheStore(MemoryTable(capped_prefix="", cap=max_items), **limits)
