"""Where idempotency records live: DynamoDB StateTable, or process memory (local runs, table outage).

One record per (caller, key): ``pk = idem#<caller key id>#<sha256 of the Idempotency-Key>``,
``sk = idem``. A request *claims* its key with one conditional write, which succeeds only when the key
is free (absent, or its ``expires_at`` has passed: an unfinished claim expires at the end of its lease, a
finished one after the TTL). When the claim fails, DynamoDB hands back the existing record
(``ReturnValuesOnConditionCheckFailure=ALL_OLD``), so deciding between replay, 409 and 422 takes no read.
Finishing (storing the answer) and releasing (after a failure) are conditional on still owning the claim.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from llm_gateway.tables.base import ConditionFailed, Table
from llm_gateway.tables.conditions import absent, at_most, equals

Status = Literal["in_progress", "completed"]
SORT_KEY = "idem"


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


class IdempotencyStore:
    """Idempotency records in a table: StateTable on DynamoDB, or a :class:`MemoryTable`."""

    def __init__(self, table: Table) -> None:
        self.table = table

    async def claim(self, key: str, record: IdempotencyRecord, *, now: float) -> IdempotencyRecord | None:
        """Claim a free key with ``record`` (``None``), or return the live record that holds it."""
        try:
            await self.table.put(_to_item(key, record), condition=absent() | at_most("expires_at", now))
        except ConditionFailed as failed:
            if failed.item is None:
                raise
            return _from_item(failed.item)
        return None

    async def finish(self, key: str, record: IdempotencyRecord) -> None:
        """Store the completed record, if ``record.owner`` still holds the key."""
        try:
            await self.table.put(_to_item(key, record), condition=equals("owner", record.owner))
        except ConditionFailed:
            return  # our lease ran out and another request took the key: its answer wins

    async def release(self, key: str, owner: str) -> None:
        """Free the key, if ``owner`` still holds it."""
        try:
            await self.table.delete(key, SORT_KEY, condition=equals("owner", owner))
        except ConditionFailed:
            return


def _to_item(key: str, record: IdempotencyRecord) -> dict[str, Any]:
    item: dict[str, Any] = {
        "pk": key,
        "sk": SORT_KEY,
        "record_status": record.status,
        "body_hash": record.body_hash,
        "owner": record.owner,
        "expires_at": int(record.expires_at) + (1 if record.expires_at % 1 else 0),
    }
    optional = {
        "kind": record.kind,
        "payload": record.payload,
        "model_group": record.model_group,
        "deployment_id": record.deployment_id,
    }
    item.update({name: value for name, value in optional.items() if value is not None})
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
