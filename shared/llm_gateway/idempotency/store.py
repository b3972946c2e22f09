"""Where idempotency records live: DynamoDB StateTable, or process memory (local runs, table outage).

One record per (caller, key): ``pk = idem#<caller key id>#<sha256 of the Idempotency-Key>``,
``sk = idem``. A request *claims* its key with one conditional write, which succeeds only when the key
is free (absent, or its ``expires_at`` has passed: an unfinished claim expires at the end of its lease, a
finished one after the TTL). When the claim fails, DynamoDB hands back the existing record
(``ReturnValuesOnConditionCheckFailure=ALL_OLD``), so deciding between replay, 409 and 422 takes no read.
Finishing (storing the answer) and releasing (after a failure) are conditional on still owning the claim.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Literal

from llm_gateway.aws.state_table import AsyncTable, ConditionFailed, attrs, to_attr

Status = Literal["in_progress", "completed"]
KEY_PREFIX = "idem#"


@dataclass(frozen=True)
class IdempotencyRecord:
    status: Status
    body_hash: str
    owner: str
    expires_at: float
    kind: str | None = None
    """``complete`` or ``stream`` once completed."""
    payload: bytes | None = None
    """The stored answer: zlib-compressed JSON (a completion, or the list of stream chunks)."""
    model_group: str | None = None
    deployment_id: str | None = None


def record_key(caller: str, idempotency_key: str) -> str:
    digest = hashlib.sha256(idempotency_key.encode()).hexdigest()
    return f"{KEY_PREFIX}{caller}#{digest}"


class IdempotencyStore(ABC):
    @abstractmethod
    async def claim(self, key: str, record: IdempotencyRecord, *, now: float) -> IdempotencyRecord | None:
        """Claim a free key with ``record`` (``None``), or return the live record that holds it."""

    @abstractmethod
    async def finish(self, key: str, record: IdempotencyRecord) -> None:
        """Store the completed record, if ``record.owner`` still holds the key."""

    @abstractmethod
    async def release(self, key: str, owner: str) -> None:
        """Free the key, if ``owner`` still holds it."""


class MemoryIdempotencyStore(IdempotencyStore):
    def __init__(self) -> None:
        self._records: dict[str, IdempotencyRecord] = {}

    async def claim(self, key: str, record: IdempotencyRecord, *, now: float) -> IdempotencyRecord | None:
        current = self._records.get(key)
        if current is not None and current.expires_at > now:
            return current
        self._records[key] = record
        return None

    async def finish(self, key: str, record: IdempotencyRecord) -> None:
        current = self._records.get(key)
        if current is not None and current.owner == record.owner:
            self._records[key] = record

    async def release(self, key: str, owner: str) -> None:
        current = self._records.get(key)
        if current is not None and current.owner == owner:
            del self._records[key]


class DynamoIdempotencyStore(IdempotencyStore):
    def __init__(self, table: AsyncTable) -> None:
        self.table = table

    @staticmethod
    def _key(key: str) -> dict[str, Any]:
        return {"pk": {"S": key}, "sk": {"S": "idem"}}

    async def claim(self, key: str, record: IdempotencyRecord, *, now: float) -> IdempotencyRecord | None:
        try:
            await self.table.call(
                "put_item",
                Item={**self._key(key), **_to_item(record)},
                ConditionExpression="attribute_not_exists(pk) OR expires_at <= :now",
                ExpressionAttributeValues=attrs(now=now),
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ConditionFailed as failed:
            if failed.old_item is None:
                raise
            return _from_item(failed.old_item)
        return None

    async def finish(self, key: str, record: IdempotencyRecord) -> None:
        try:
            await self.table.call(
                "put_item",
                Item={**self._key(key), **_to_item(record)},
                ConditionExpression="#owner = :owner",
                ExpressionAttributeNames={"#owner": "owner"},
                ExpressionAttributeValues=attrs(owner=record.owner),
            )
        except ConditionFailed:
            return  # our lease ran out and another request took the key: its answer wins

    async def release(self, key: str, owner: str) -> None:
        try:
            await self.table.call(
                "delete_item",
                Key=self._key(key),
                ConditionExpression="#owner = :owner",
                ExpressionAttributeNames={"#owner": "owner"},
                ExpressionAttributeValues=attrs(owner=owner),
            )
        except ConditionFailed:
            return


def _to_item(record: IdempotencyRecord) -> dict[str, Any]:
    item = {
        "record_status": to_attr(record.status),
        "body_hash": to_attr(record.body_hash),
        "owner": to_attr(record.owner),
        "expires_at": to_attr(int(record.expires_at) + (1 if record.expires_at % 1 else 0)),
    }
    optional = {
        "kind": record.kind,
        "payload": record.payload,
        "model_group": record.model_group,
        "deployment_id": record.deployment_id,
    }
    item.update({name: to_attr(value) for name, value in optional.items() if value is not None})
    return item


def _from_item(item: dict[str, Any]) -> IdempotencyRecord:
    status = item.get("record_status")
    payload = item.get("payload")
    return IdempotencyRecord(
        status="completed" if status == "completed" else "in_progress",
        body_hash=str(item.get("body_hash", "")),
        owner=str(item.get("owner", "")),
        expires_at=float(item.get("expires_at", 0)),
        kind=item.get("kind"),
        payload=bytes(payload) if isinstance(payload, bytes | bytearray) else None,
        model_group=item.get("model_group"),
        deployment_id=item.get("deployment_id"),
    )
