"""The ledger: what answered requests owe the tables, held in memory and written in batches.

Two kinds of entries:

- **records** (usage detail items): written with ``Table.batch_put``, 25 to a ``BatchWriteItem`` call;
- **sums** (running spend, day/model sums, token settlements of rate-limit windows, budget settlements):
  the amounts for one item are added up in memory and written as one ``UpdateItem ... ADD`` per item per
  flush, however many requests contributed.

A flush starts ``interval`` seconds after the first entry queued since the last one (one timer on the
event loop), or when asked (:meth:`flush`: shutdown, before Lambda can freeze the environment, readers
that must see everything). A write that fails stays pending, merged with what came since, and is tried
again at the next flush: nothing is dropped. Memory stays bounded: past ``max_pending`` records,
admission waits for a flush (:meth:`wait_for_room`).

Readers see what is pending here too (:meth:`pending_sum`, :meth:`pending_sums`): a budget check or a
spend report in this process is never behind a request this process answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from llm_gateway.tables.base import BATCH_WRITE_MAX, BatchIncomplete, ConditionFailed, Table
from llm_gateway.tables.conditions import Item, present

log = logging.getLogger("llm_gateway.tenants")

ERROR_LOG_INTERVAL = 10.0
"""A table that keeps failing is logged at most this often."""

COMMITTED = "committed_nusd"
"""The period item's attribute that budget reservations are checked against (see :mod:`.budgets`), in
whole nano-dollars (1e-9 USD): integers add up exactly, in DynamoDB and here."""
NANO = 1_000_000_000


def nano(usd: float) -> int:
    """``usd`` in whole nano-dollars."""
    return round(usd * NANO)


@dataclass(frozen=True)
class Slot:
    """One item that sums are added to. ``hold``: the name of a budget hold these sums release; the
    release applies only while the hold is there (an expired hold was already taken out of
    ``committed``, so its release becomes the plain cost)."""

    table: Table
    pk: str
    sk: str
    hold: str | None = None


@dataclass
class FlushStats:
    """What the flushes did so far: calls made, how long each took, failures (for benchmarks and logs)."""

    flushes: int = 0
    batch_calls: int = 0
    update_calls: int = 0
    failures: int = 0
    last_ms: float = 0.0
    total_ms: float = 0.0


class Ledger:
    def __init__(
        self,
        *,
        interval: float = 1.0,
        concurrency: int = 8,
        max_pending: int = 10_000,
        per_request: bool = False,
        request_timeout: float = 2.0,
    ) -> None:
        self.interval = interval
        self.concurrency = concurrency
        self.max_pending = max_pending
        self.per_request = per_request
        """Flush at the end of every request (Lambda on demand, which may freeze the process as soon as the
        answer is sent); no timer."""
        self.request_timeout = request_timeout
        self.stats = FlushStats()
        self._records: dict[Table, list[Item]] = {}
        self._record_count = 0
        self._sums: dict[Slot, dict[str, float]] = {}
        self._sets: dict[Slot, dict[str, Any]] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._running: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._last_error_log = float("-inf")

    # -- queueing -----------------------------------------------------------------------------------

    def record(self, table: Table, item: Item) -> None:
        """Queue a usage detail item."""
        self._records.setdefault(table, []).append(item)
        self._record_count += 1
        self._schedule()

    def add(
        self,
        table: Table,
        pk: str,
        sk: str,
        amounts: Mapping[str, float],
        *,
        hold: str | None = None,
        set_values: Mapping[str, Any] | None = None,
    ) -> None:
        """Add ``amounts`` to the item's numbers at the next flush (``set_values`` set with them)."""
        slot = Slot(table, pk, sk, hold)
        sums = self._sums.get(slot)
        if sums is None:
            self._sums[slot] = dict(amounts)
        else:
            for name, amount in amounts.items():
                sums[name] = sums.get(name, 0) + amount
        if set_values:
            self._sets.setdefault(slot, {}).update(set_values)
        self._schedule()

    # -- reading what is pending -------------------------------------------------------------------

    @property
    def pending_records(self) -> int:
        return self._record_count

    @property
    def pending(self) -> bool:
        return bool(self._record_count or self._sums)

    def pending_sum(self, table: Table, pk: str, sk: str) -> dict[str, float]:
        """What this process will still add to one item (holds released included)."""
        total: dict[str, float] = {}
        for slot, sums in self._sums.items():
            if slot.table is table and slot.pk == pk and slot.sk == sk:
                for name, amount in sums.items():
                    total[name] = total.get(name, 0) + amount
        return total

    def pending_sums(self, table: Table, pk_prefix: str) -> Iterator[tuple[str, str, dict[str, float]]]:
        """``(pk, sk, amounts)`` of every pending sum on ``table`` whose ``pk`` starts with ``pk_prefix``."""
        for slot, sums in list(self._sums.items()):
            if slot.table is table and slot.pk.startswith(pk_prefix):
                yield slot.pk, slot.sk, dict(sums)

    # -- flushing -----------------------------------------------------------------------------------

    def _schedule(self) -> None:
        if self.per_request:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop (a synchronous caller): the next flush takes it
        if self._timer is not None and self._loop is loop:
            return
        self._loop = loop
        self._timer = loop.call_later(self.interval, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._kick()

    def _kick(self) -> asyncio.Task[None] | None:
        """The running flush, or a new one if something is pending."""
        running = self._running
        if running is not None and not running.done():
            return running
        if not self.pending:
            return None
        self._running = asyncio.get_running_loop().create_task(self._write_pending())
        return self._running

    async def flush(self, timeout: float | None = None) -> bool:
        """Write everything queued so far; ``True`` when nothing is left pending. With ``timeout`` it waits
        at most that long (the writes go on in the background)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

        async def rounds() -> None:
            running = self._running
            if running is not None and not running.done():
                await asyncio.shield(running)  # it may hold entries queued before this call
            task = self._kick()
            if task is not None:
                await asyncio.shield(task)

        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await rounds()
        if self.pending:
            self._schedule()  # what failed is tried again at the next window
        running = self._running
        return not self.pending and (running is None or running.done())

    async def end_of_request(self) -> None:
        """In ``per_request`` mode, write this request's entries before its answer is complete, bounded
        by ``request_timeout``; otherwise nothing (the window's timer writes them)."""
        if self.per_request and self.pending:
            await self.flush(timeout=self.request_timeout)

    async def wait_for_room(self, timeout: float) -> bool:
        """Wait (at most ``timeout`` s) while ``max_pending`` records or more are pending, flushing;
        ``False`` if it is still full."""
        if self._record_count < self.max_pending:
            return True
        await self.flush(timeout=timeout)
        return self._record_count < self.max_pending

    async def _write_pending(self) -> None:
        records, self._records, self._record_count = self._records, {}, 0
        sums, self._sums = self._sums, {}
        sets, self._sets = self._sets, {}
        started = time.perf_counter()
        gate = asyncio.Semaphore(self.concurrency)
        jobs = [
            self._write_records(table, items[i : i + BATCH_WRITE_MAX], gate)
            for table, items in records.items()
            for i in range(0, len(items), BATCH_WRITE_MAX)
        ]
        jobs += [self._write_sum(slot, amounts, sets.get(slot), gate) for slot, amounts in sums.items()]
        await asyncio.gather(*jobs)
        elapsed = (time.perf_counter() - started) * 1000
        self.stats.flushes += 1
        self.stats.last_ms = elapsed
        self.stats.total_ms += elapsed

    async def _write_records(self, table: Table, items: list[Item], gate: asyncio.Semaphore) -> None:
        async with gate:
            self.stats.batch_calls += 1
            try:
                await table.batch_put(items)
            except BatchIncomplete as failed:
                self._failed("usage records", failed)
                self._requeue_records(table, failed.unwritten)
            except Exception as failed:
                self._failed("usage records", failed)
                self._requeue_records(table, items)

    def _requeue_records(self, table: Table, items: list[Item]) -> None:
        self._records.setdefault(table, []).extend(items)
        self._record_count += len(items)
        self._schedule()

    async def _write_sum(
        self, slot: Slot, amounts: dict[str, float], sets: dict[str, Any] | None, gate: asyncio.Semaphore
    ) -> None:
        add = {name: amount for name, amount in amounts.items() if amount}
        if not add and not sets:
            return
        async with gate:
            self.stats.update_calls += 1
            try:
                await slot.table.update(
                    slot.pk,
                    slot.sk,
                    add=add,
                    set_values=sets,
                    condition=present(slot.hold) if slot.hold is not None else None,
                )
                return
            except ConditionFailed:
                pass
            except Exception as failed:
                self._failed("running sums", failed)
                self.add(slot.table, slot.pk, slot.sk, add, hold=slot.hold, set_values=sets)
                return
            # the hold expired and was taken out of ``committed`` already: what is left to add is the cost
            assert slot.hold is not None
            released = add.pop(slot.hold, 0)
            add[COMMITTED] = add.get(COMMITTED, 0) - released
            add = {name: amount for name, amount in add.items() if amount}
            self.stats.update_calls += 1
            try:
                if add or sets:
                    await slot.table.update(slot.pk, slot.sk, add=add, set_values=sets)
            except Exception as failed:
                self._failed("running sums", failed)
                self.add(slot.table, slot.pk, slot.sk, add, set_values=sets)

    def _failed(self, what: str, exc: BaseException) -> None:
        self.stats.failures += 1
        now = time.monotonic()
        if now - self._last_error_log >= ERROR_LOG_INTERVAL:
            self._last_error_log = now
            log.error("writing %s failed, kept for the next flush: %s", what, exc)


def finish_in_loop(ledger: Ledger, timeout: float = 2.0) -> None:
    """For callers that drive the event loop themselves (Mangum's buffered handler runs it only while a
    request is in progress): write what is pending before the process may be frozen."""
    if not ledger.pending:
        return
    loop = asyncio.get_event_loop()
    if not loop.is_running():
        loop.run_until_complete(ledger.flush(timeout=timeout))
