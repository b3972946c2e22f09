"""The in-memory table: the same semantics as the DynamoDB one, for local runs, tests and fallbacks.

Items are kept per ``pk``, so a query reads only its partition. Reads and writes copy the item (one
level deep, as DynamoDB hands out copies too). Calls never wait: everything happens on the caller's
event loop. Expired items are not removed (DynamoDB's TTL is late too): stores check ``expires_at``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from llm_gateway.tables.base import ConditionFailed, Put, Table
from llm_gateway.tables.conditions import Condition, Item


class MemoryTable(Table):
    """``cap`` bounds how many items whose ``pk`` starts with ``capped_prefix`` are kept, the least
    recently written going first (with ``capped_prefix=""``, every item): a usage table's detail records
    or a response cache would otherwise grow a long-running process without end."""

    blocking: ClassVar[bool] = False

    def __init__(self, *, capped_prefix: str | None = None, cap: int = 0, name: str = "memory") -> None:
        self.name = name
        self._partitions: dict[str, dict[str, Item]] = {}
        self._capped_prefix = capped_prefix
        self._cap = cap
        self._capped: OrderedDict[tuple[str, str], None] = OrderedDict()

    # -- storage ------------------------------------------------------------------------------------

    def _current(self, pk: str, sk: str) -> Item | None:
        partition = self._partitions.get(pk)
        return partition.get(sk) if partition is not None else None

    def _store(self, item: Item) -> None:
        pk, sk = item["pk"], item["sk"]
        self._partitions.setdefault(pk, {})[sk] = item
        if self._capped_prefix is not None and pk.startswith(self._capped_prefix):
            key = (pk, sk)
            self._capped[key] = None
            self._capped.move_to_end(key)
            while len(self._capped) > self._cap:
                self._remove(*self._capped.popitem(last=False)[0])

    def _remove(self, pk: str, sk: str) -> None:
        partition = self._partitions.get(pk)
        if partition is not None:
            partition.pop(sk, None)
            if not partition:
                del self._partitions[pk]
        self._capped.pop((pk, sk), None)

    @staticmethod
    def _check(condition: Condition | None, current: Item | None) -> None:
        if condition is not None and not condition.holds(current):
            raise ConditionFailed(dict(current) if current is not None else None)

    @property
    def items(self) -> dict[tuple[str, str], Item]:
        """Every item by ``(pk, sk)`` (for tests and diagnostics)."""
        return {(pk, sk): item for pk, partition in self._partitions.items() for sk, item in partition.items()}

    # -- the interface ------------------------------------------------------------------------------

    async def get(self, pk: str, sk: str, *, consistent: bool = False) -> Item | None:
        item = self._current(pk, sk)
        return dict(item) if item is not None else None

    async def put(self, item: Item, *, condition: Condition | None = None) -> None:
        self._check(condition, self._current(item["pk"], item["sk"]))
        self._store(dict(item))

    async def update(
        self,
        pk: str,
        sk: str,
        *,
        add: Mapping[str, float] | None = None,
        set_values: Mapping[str, Any] | None = None,
        remove: Sequence[str] = (),
        condition: Condition | None = None,
    ) -> Item:
        current = self._current(pk, sk)
        self._check(condition, current)
        item: Item = dict(current) if current is not None else {"pk": pk, "sk": sk}
        for name, amount in (add or {}).items():
            item[name] = item.get(name, 0) + amount
        item.update(set_values or {})
        for name in remove:
            item.pop(name, None)
        self._store(item)
        return dict(item)

    async def delete(self, pk: str, sk: str, *, condition: Condition | None = None) -> None:
        current = self._current(pk, sk)
        self._check(condition, current)
        if current is not None:
            self._remove(pk, sk)

    async def batch_put(self, items: Sequence[Item]) -> None:
        for item in items:
            self._store(dict(item))

    async def transact(self, writes: Sequence[Put]) -> None:
        for write in writes:
            if write.condition is not None and not write.condition.holds(
                self._current(write.item["pk"], write.item["sk"])
            ):
                raise ConditionFailed(None)
        for write in writes:
            self._store(dict(write.item))

    async def query(self, pk: str, sk_from: str | None = None, sk_to: str | None = None) -> list[Item]:
        partition = self._partitions.get(pk)
        if not partition:
            return []
        return [
            dict(partition[sk])
            for sk in sorted(partition)
            if (sk_from is None or sk >= sk_from) and (sk_to is None or sk <= sk_to)
        ]

    async def scan(self, pk_prefix: str) -> list[Item]:
        return [
            dict(item)
            for pk, partition in self._partitions.items()
            if pk.startswith(pk_prefix)
            for item in partition.values()
        ]
