"""Stored responses (``store``, ``previous_response_id``, ``GET`` / ``DELETE /v1/responses/{id}``), over a
:class:`~llm_gateway.tables.base.Table` (the ResponsesTable, else in memory).

One item per response: ``pk`` :func:`~llm_gateway.scopes.response_pk` (whose it is, built from escaped
parts: a key never reads another key's, as its partition is its own and the item's ``owner`` is checked
again on read), ``sk`` the response id. It holds the response object and the conversation it answered
(the earlier items and this request's input), zlib-compressed JSON, and ``expires_at`` (DynamoDB's TTL
attribute). DynamoDB deletes expired items late (and moto never does), so an expired item reads as
missing here.
"""

from __future__ import annotations

import logging
import zlib
from dataclasses import dataclass
from typing import Any

import orjson

from llm_gateway.errors import GatewayError
from llm_gateway.scopes import response_pk
from llm_gateway.tables.base import Table, TableUnavailable

log = logging.getLogger("llm_gateway.responses")

MAX_ITEM_BYTES = 380_000
"""DynamoDB's item limit is 400 KB: a conversation that does not fit (compressed) is not stored."""


@dataclass(frozen=True)
class StoredResponse:
    response: dict[str, Any]
    input_items: list[dict[str, Any]]
    """Everything the response answered: the earlier responses' items, then its own input."""

    @property
    def conversation(self) -> list[dict[str, Any]]:
        """What a response continuing this one starts from: its input items, then its output."""
        return [*self.input_items, *self.response.get("output", [])]


def _unavailable() -> GatewayError:
    return GatewayError(
        "The gateway's response store is unavailable; try again shortly.", status_code=503, code="store_unavailable"
    )


class ResponseStore:
    def __init__(self, table: Table, *, ttl_seconds: float) -> None:
        self.table = table
        self.ttl_seconds = ttl_seconds

    async def get(self, key_id: str, response_id: str, *, now: float) -> StoredResponse | None:
        try:
            item = await self.table.get(response_pk(key_id), response_id)
        except TableUnavailable:
            raise _unavailable() from None
        if item is None or item.get("owner") != key_id or float(item.get("expires_at") or 0) <= now:
            return None
        data = orjson.loads(zlib.decompress(bytes(item["data"])))
        return StoredResponse(response=data["response"], input_items=data["input_items"])

    async def put(self, key_id: str, stored: StoredResponse, *, now: float) -> bool:
        """Keep ``stored``; ``False`` when it is too large to keep (logged) or the table failed (logged)."""
        data = zlib.compress(orjson.dumps({"response": stored.response, "input_items": stored.input_items}))
        if len(data) > MAX_ITEM_BYTES:
            log.warning("response %s not stored: %d bytes compressed", stored.response["id"], len(data))
            return False
        item = {
            "pk": response_pk(key_id),
            "sk": stored.response["id"],
            "owner": key_id,
            "data": data,
            "created_at": int(stored.response.get("created_at") or now),
            "expires_at": int(now + self.ttl_seconds),
        }
        try:
            await self.table.put(item)
        except TableUnavailable as exc:
            log.warning("response %s not stored: %r", stored.response["id"], exc)
            return False
        return True

    async def delete(self, key_id: str, response_id: str, *, now: float) -> bool:
        """``False`` when there was no such (unexpired) response of this key."""
        if await self.get(key_id, response_id, now=now) is None:
            return False
        try:
            await self.table.delete(response_pk(key_id), response_id)
        except TableUnavailable:
            raise _unavailable() from None
        return True
