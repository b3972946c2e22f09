"""The few item operations the tenant stores need, behind one small interface.

Stores (keys, rate-limit counters, spend) hold all the logic and speak only these primitives; the
backends (:class:`MemoryTable` here, :class:`llm_gateway.tenants.dynamo.DynamoTable`) only read and write.
Every item has a string ``pk`` and ``sk``; numbers are ``int`` or ``float`` on this side of the interface.
Calls are synchronous (boto3 is); async callers run them in a worker thread when the table is
``blocking`` (it waits on the network), and inline when it is not (the in-memory table).
"""

from __future__ import annotations

import collections
import threading
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

Item = dict[str, Any]


class ConditionFailed(Exception):
    """A conditional write did not apply; ``item`` is what the table held (``None``: nothing)."""

    def __init__(self, item: Item | None = None) -> None:
        super().__init__("condition failed")
        self.item = item


@dataclass(frozen=True)
class Put:
    """One write of a transaction: ``if_absent`` (create only) or ``if_equals`` (field -> value)."""

    item: Item
    if_absent: bool = False
    if_equals: Mapping[str, Any] = field(default_factory=dict)


class Table(ABC):
    blocking: ClassVar[bool] = True
    """Whether calls wait on I/O: async callers then run them in a worker thread (see ``call_store``)."""

    @abstractmethod
    def get(self, pk: str, sk: str) -> Item | None: ...

    @abstractmethod
    def transact(self, writes: list[Put]) -> None:
        """All writes or none; :class:`ConditionFailed` when a condition does not hold."""

    @abstractmethod
    def add(
        self,
        pk: str,
        sk: str,
        increments: Mapping[str, float],
        *,
        set_values: Mapping[str, Any] | None = None,
        below: Mapping[str, float] | None = None,
    ) -> Item:
        """Atomically add ``increments`` (creating the item) and return the new values. With ``below``, apply
        only if every named attribute is absent or lower than its bound, else :class:`ConditionFailed`."""

    @abstractmethod
    def query(self, pk: str, sk_from: str | None = None, sk_to: str | None = None) -> list[Item]:
        """Items of one ``pk`` with ``sk_from <= sk <= sk_to`` (bounds optional), in ``sk`` order."""

    @abstractmethod
    def scan(self, pk_prefix: str) -> list[Item]:
        """Every item whose ``pk`` starts with ``pk_prefix`` (admin listings only: it reads the table)."""

    def put(self, item: Item, *, if_absent: bool = False) -> None:
        self.transact([Put(item, if_absent=if_absent)])


class MemoryTable(Table):
    """In-process table for tests and local runs; same semantics as the DynamoDB one.

    ``cap`` bounds how many items whose ``pk`` starts with ``capped_prefix`` are kept (oldest first out):
    the usage table's per-request detail records would otherwise grow a long-running process without
    end, while the running sums they feed stay exact.
    """

    blocking: ClassVar[bool] = False  # microseconds per call: a thread hop would cost more than the call

    def __init__(self, *, capped_prefix: str | None = None, cap: int = 0) -> None:
        self.items: dict[tuple[str, str], Item] = {}
        self._lock = threading.Lock()
        self._capped_prefix = capped_prefix
        self._cap = cap
        self._capped: collections.deque[tuple[str, str]] = collections.deque()

    def _store(self, key: tuple[str, str], item: Item) -> None:
        """Insert or replace (caller holds the lock), evicting the oldest capped items past the cap."""
        if key not in self.items and self._capped_prefix is not None and key[0].startswith(self._capped_prefix):
            self._capped.append(key)
            while len(self._capped) > self._cap:
                self.items.pop(self._capped.popleft(), None)
        self.items[key] = item

    def put(self, item: Item, *, if_absent: bool = False) -> None:
        key = (item["pk"], item["sk"])
        with self._lock:
            current = self.items.get(key)
            if if_absent and current is not None:
                raise ConditionFailed(dict(current))
            self._store(key, dict(item))

    def get(self, pk: str, sk: str) -> Item | None:
        with self._lock:
            item = self.items.get((pk, sk))
            return dict(item) if item is not None else None

    def transact(self, writes: list[Put]) -> None:
        with self._lock:
            for write in writes:
                current = self.items.get((write.item["pk"], write.item["sk"]))
                if write.if_absent and current is not None:
                    raise ConditionFailed(dict(current))
                for name, value in write.if_equals.items():
                    if current is None or current.get(name) != value:
                        raise ConditionFailed(dict(current) if current else None)
            for write in writes:
                self._store((write.item["pk"], write.item["sk"]), dict(write.item))

    def add(
        self,
        pk: str,
        sk: str,
        increments: Mapping[str, float],
        *,
        set_values: Mapping[str, Any] | None = None,
        below: Mapping[str, float] | None = None,
    ) -> Item:
        with self._lock:
            current = self.items.get((pk, sk))
            for name, bound in (below or {}).items():
                if current is not None and name in current and current[name] >= bound:
                    raise ConditionFailed(dict(current))
            item: Item = current if current is not None else {"pk": pk, "sk": sk}
            for name, amount in increments.items():
                item[name] = item.get(name, 0) + amount
            item.update(set_values or {})
            self._store((pk, sk), item)
            return dict(item)

    def query(self, pk: str, sk_from: str | None = None, sk_to: str | None = None) -> list[Item]:
        with self._lock:
            found = [
                dict(item)
                for (item_pk, item_sk), item in self.items.items()
                if item_pk == pk and (sk_from is None or item_sk >= sk_from) and (sk_to is None or item_sk <= sk_to)
            ]
        return sorted(found, key=lambda item: str(item["sk"]))

    def scan(self, pk_prefix: str) -> list[Item]:
        with self._lock:
            return [dict(item) for (pk, _), item in self.items.items() if pk.startswith(pk_prefix)]
