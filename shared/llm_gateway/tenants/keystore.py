"""Virtual keys in the KeysTable.

Layout (the table is shared, so every ``pk`` starts with its record kind):

- ``pk = key#<sha256 of the key>``, ``sk = key``: the key's full record; authentication is one GetItem.
- ``pk = keys``, ``sk = <key id>``: the directory. Each id's current hash and every hash it ever had
  (rotation), so admin commands work by id, a revocation reaches keys still in a rotation grace period,
  and listing keys is one Query (no Scan: the function's IAM policy does not allow it). Only admin
  commands write this partition.

Key expiry is an ordinary attribute (``key_expires_at``), not the table's TTL: expired and revoked keys
stay listed until deleted by hand.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from llm_gateway.scopes import check_key_id
from llm_gateway.tables.base import ConditionFailed, Put, Table
from llm_gateway.tables.conditions import Item, absent, equals
from llm_gateway.tenants.records import KeyRecord, successor


class KeyNotFoundError(LookupError):
    pass


def _hash_pk(key_hash: str) -> str:
    return f"key#{key_hash}"


DIRECTORY = "keys"


def record_to_item(record: KeyRecord) -> Item:
    item: Item = {
        "pk": _hash_pk(record.key_hash),
        "sk": "key",
        "key_id": record.key_id,
        "prefix": record.prefix,
        "owner": record.owner,
        "created_at": record.created_at,
        "budget_period": record.budget_period,
        "metadata": dict(record.metadata),
        "guardrails": list(record.guardrails),
    }
    optional = {
        "models": list(record.models) if record.models is not None else None,
        "rpm": record.rpm,
        "tpm": record.tpm,
        "budget_usd": record.budget_usd,
        "key_expires_at": record.expires_at,
        "revoked_at": record.revoked_at,
        "replaced_by": record.replaced_by,
    }
    item.update({name: value for name, value in optional.items() if value is not None})
    return item


def record_from_item(item: Item) -> KeyRecord:
    models = item.get("models")
    return KeyRecord(
        key_id=str(item["key_id"]),
        key_hash=str(item["pk"]).removeprefix("key#"),
        prefix=str(item.get("prefix", "")),
        owner=str(item.get("owner", "")),
        created_at=float(item.get("created_at", 0)),
        models=tuple(models) if models is not None else None,
        rpm=_int_or_none(item.get("rpm")),
        tpm=_int_or_none(item.get("tpm")),
        budget_usd=_float_or_none(item.get("budget_usd")),
        budget_period=item.get("budget_period", "monthly"),
        expires_at=_float_or_none(item.get("key_expires_at")),
        metadata={str(k): str(v) for k, v in (item.get("metadata") or {}).items()},
        guardrails=tuple(item.get("guardrails") or ()),
        revoked_at=_float_or_none(item.get("revoked_at")),
        replaced_by=item.get("replaced_by"),
    )


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


def _float_or_none(value: Any) -> float | None:
    return None if value is None else float(value)


class KeyStore:
    def __init__(self, table: Table) -> None:
        self.table = table

    async def get_by_hash(self, key_hash: str) -> KeyRecord | None:
        item = await self.table.get(_hash_pk(key_hash), "key")
        return record_from_item(item) if item is not None else None

    async def _index(self, key_id: str) -> Item:
        index = await self.table.get(DIRECTORY, key_id)
        if index is None:
            raise KeyNotFoundError(f"no key with id {key_id!r}")
        return index

    async def get(self, key_id: str) -> KeyRecord:
        record = await self.get_by_hash(str((await self._index(key_id))["key_hash"]))
        if record is None:
            raise KeyNotFoundError(f"no key with id {key_id!r}")
        return record

    async def create(self, record: KeyRecord) -> None:
        check_key_id(record.key_id)
        index = {"pk": DIRECTORY, "sk": record.key_id, "key_hash": record.key_hash, "hashes": [record.key_hash]}
        try:
            await self.table.transact([Put(record_to_item(record), absent()), Put(index, absent())])
        except ConditionFailed:
            raise ValueError(f"key id {record.key_id!r} already exists") from None

    async def key_ids(self) -> list[str]:
        """Every key id (one Query of the directory)."""
        return [str(item["sk"]) for item in await self.table.query(DIRECTORY)]

    async def list(self, *, include_retired: bool = False) -> list[KeyRecord]:
        records = []
        for index in await self.table.query(DIRECTORY):
            hashes = (index.get("hashes") or [index["key_hash"]]) if include_retired else [index["key_hash"]]
            for key_hash in hashes:
                record = await self.get_by_hash(str(key_hash))
                if record is not None:
                    records.append(record)
        return sorted(records, key=lambda r: (r.created_at, r.key_id, r.replaced_by is None))

    async def revoke(self, key_id: str, *, now: float) -> KeyRecord:
        """Revoke the key and every earlier secret of it still in a rotation grace period."""
        index = await self._index(key_id)
        current: KeyRecord | None = None
        for key_hash in index.get("hashes") or [index["key_hash"]]:
            record = await self.get_by_hash(str(key_hash))
            if record is None:
                continue
            if record.revoked_at is None:
                record = record.revoked(now)
                await self.table.put(record_to_item(record))
            if record.key_hash == index["key_hash"]:
                current = record
        if current is None:
            raise KeyNotFoundError(f"no key with id {key_id!r}")
        return current

    async def rotate(self, key_id: str, *, now: float, grace_seconds: float = 0.0) -> tuple[str, KeyRecord]:
        """A new secret for the same key id; the old secret works for ``grace_seconds`` more."""
        index = await self._index(key_id)
        old_hash = str(index["key_hash"])
        record = await self.get_by_hash(old_hash)
        if record is None:
            raise KeyNotFoundError(f"no key with id {key_id!r}")
        if record.refusal(now) is not None:
            raise ValueError(f"key {key_id!r} is revoked or expired; create a new one instead")
        secret, fresh, retired = successor(record, now=now, grace_seconds=grace_seconds)
        new_index = {
            "pk": DIRECTORY,
            "sk": key_id,
            "key_hash": fresh.key_hash,
            "hashes": [*(index.get("hashes") or [old_hash]), fresh.key_hash],
        }
        try:
            await self.table.transact(
                [
                    Put(record_to_item(fresh), absent()),
                    Put(record_to_item(retired)),
                    Put(new_index, equals("key_hash", old_hash)),
                ]
            )
        except ConditionFailed:
            raise ValueError(f"key {key_id!r} changed while rotating it; try again") from None
        return secret, fresh

    async def update(self, key_id: str, **changes: Any) -> KeyRecord:
        record = replace(await self.get(key_id), **changes)
        await self.table.put(record_to_item(record))
        return record
