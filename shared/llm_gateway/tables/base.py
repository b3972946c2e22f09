"""The table interface every store is written against.

Every item has a string ``pk`` and ``sk`` (the key schema of each table in ``template.yaml``). On this
side of the interface values are plain Python: ``str``, ``bytes``, ``bool``, ``None``, ``int`` or
``float`` (a DynamoDB number comes back as an ``int`` when it is whole), and lists and dicts of those.

A call either does what it says, or raises :class:`ConditionFailed` (its condition did not hold; the
exception carries the item as it was, so no second read is needed) or :class:`TableUnavailable`
(anything else: network, throttling, a missing table, the call's timeout). Stores decide what an
outage means for them (a 503, an in-memory fallback, a skipped cache).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from llm_gateway.tables.conditions import Condition, Item


class ConditionFailed(Exception):
    """A conditional write did not apply; ``item`` is what the table held (``None``: nothing, or not known)."""

    def __init__(self, item: Item | None = None) -> None:
        super().__init__("condition failed")
        self.item = item


class TableUnavailable(Exception):
    """The table could not be reached or refused the call."""


class BatchIncomplete(TableUnavailable):
    """A batch write that could not write every item; ``unwritten`` are the ones to try again."""

    def __init__(self, message: str, unwritten: Sequence[Item]) -> None:
        super().__init__(message)
        self.unwritten = list(unwritten)


BATCH_WRITE_MAX = 25
"""Items per ``BatchWriteItem`` call (DynamoDB's limit)."""


@dataclass(frozen=True)
class Put:
    """One write of a transaction, applied only if ``condition`` holds (``None``: always)."""

    item: Item
    condition: Condition | None = None


class Table(ABC):
    name: str = "memory"

    blocking: ClassVar[bool] = True
    """Whether calls wait on I/O. A table that does not (in memory) never suspends its caller, so work
    over it may run inline instead of in a task of its own (see ``BackgroundJobs.run_now``)."""

    @abstractmethod
    async def get(self, pk: str, sk: str, *, consistent: bool = False) -> Item | None: ...

    @abstractmethod
    async def put(self, item: Item, *, condition: Condition | None = None) -> None: ...

    @abstractmethod
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
        """Add ``add`` to numbers (a missing one counts as 0), set ``set_values`` and remove the attributes
        named in ``remove``, creating the item if needed; returns the item as it is now."""

    @abstractmethod
    async def delete(self, pk: str, sk: str, *, condition: Condition | None = None) -> None: ...

    @abstractmethod
    async def batch_put(self, items: Sequence[Item]) -> None:
        """Write ``items`` (unconditionally, each replacing any item with its key), in calls of at most
        :data:`BATCH_WRITE_MAX`. Items the table leaves unprocessed are sent again; what still cannot be
        written raises :class:`BatchIncomplete` naming them (nothing is dropped silently)."""

    @abstractmethod
    async def transact(self, writes: Sequence[Put]) -> None:
        """All writes or none; :class:`ConditionFailed` (without an item) when a condition does not hold."""

    @abstractmethod
    async def query(self, pk: str, sk_from: str | None = None, sk_to: str | None = None) -> list[Item]:
        """Items of one ``pk`` with ``sk_from <= sk <= sk_to`` (bounds optional), in ``sk`` order."""

    @abstractmethod
    async def scan(self, pk_prefix: str) -> list[Item]:
        """Every item whose ``pk`` starts with ``pk_prefix`` (admin listings only: it reads the table)."""

    def warm_up(self) -> None:
        """Get ready for the first call without making it (a DynamoDB table loads boto3 and makes its client
        in the background); nothing to do for a table without I/O."""
        return

    def tuned(self, *, timeout: float | None = None, **client_settings: Any) -> Table:
        """This table for a caller with its own bound on each call and its own client settings
        (``connect_timeout``, ``read_timeout``, ``max_attempts``). A table without I/O ignores them."""
        return self


@dataclass(frozen=True)
class Tables:
    """The tables of this deployment (``template.yaml``); ``None``: not configured."""

    cache: Table | None = None
    state: Table | None = None
    """Rate-limit windows, cooldowns, idempotency records."""
    keys: Table | None = None
    usage: Table | None = None
    responses: Table | None = None
    """Stored responses of ``/v1/responses``."""
