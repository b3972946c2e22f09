"""Work done after the answer has gone out (usage records, spend, token settlement).

Jobs start at once as asyncio tasks, at most ``concurrency`` of them talking to DynamoDB at a time.
When ``max_pending`` jobs are queued, new requests wait for room before they start
(:meth:`wait_for_room`): a table slower than the request rate slows admission down instead of growing
memory or losing usage records. Only a job submitted while the queue is still full after that wait is
dropped and counted (the request log reports it; the error is logged at most every 10 s).
:meth:`flush` waits for everything queued: the app calls it
on shutdown (uvicorn's lifespan, which the Lambda Web Adapter triggers on SIGTERM) and tests call it
before they read the tables.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

log = logging.getLogger("llm_gateway.tenants")

DROP_LOG_INTERVAL = 10.0


class BackgroundJobs:
    def __init__(self, *, concurrency: int = 8, max_pending: int = 10_000) -> None:
        self.concurrency = concurrency
        self.max_pending = max_pending
        self._tasks: set[asyncio.Task[None]] = set()
        self._room_waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._semaphore: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.dropped = 0
        self.failed = 0
        self._last_drop_log = float("-inf")

    def _gate(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if self._semaphore is None or self._loop is not loop:
            self._semaphore, self._loop = asyncio.Semaphore(self.concurrency), loop
        return self._semaphore

    def submit(self, what: str, job: Callable[[], Awaitable[None]]) -> bool:
        """Run ``job`` soon; ``False`` (and nothing runs) when too much is already pending."""
        if len(self._tasks) >= self.max_pending:
            self.dropped += 1
            now = time.monotonic()
            if now - self._last_drop_log >= DROP_LOG_INTERVAL:
                self._last_drop_log = now
                log.error("background queue full: dropped %s (%d dropped so far)", what, self.dropped)
            return False
        gate = self._gate()

        async def run() -> None:
            async with gate:
                try:
                    await job()
                except Exception as exc:
                    self.failed += 1
                    log.error("background %s failed: %s", what, type(exc).__name__)

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return True

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._wake_one(task.get_loop())  # one waiting request per freed slot (no request scans the queue)

    def _wake_one(self, loop: asyncio.AbstractEventLoop) -> None:
        for waiter in self._room_waiters:
            if not waiter.done() and waiter.get_loop() is loop:
                waiter.set_result(None)
                return

    def run_now(self, what: str, job: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run a job over stores that do no I/O (in-memory tables) at once, without a task (a task would cost
        more than the job), counted and logged like a job. Such a job never waits: it runs to its end here."""
        coroutine = job()
        try:
            coroutine.send(None)
        except StopIteration:
            return
        except Exception as exc:
            self.failed += 1
            log.error("background %s failed: %s", what, type(exc).__name__)
            return
        coroutine.close()
        raise RuntimeError(f"background {what} waited on I/O: it must be submitted, not run now")

    @property
    def pending(self) -> int:
        return len(self._tasks)

    async def wait_for_room(self, timeout: float) -> bool:
        """Wait (at most ``timeout`` s) until fewer than ``max_pending`` jobs are queued; ``False`` if still full.
        Waiters are woken one per finished job, first come first served."""
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                while len(self._tasks) >= self.max_pending:
                    if not any(t.get_loop() is loop for t in self._tasks):
                        return True  # nothing queued here can finish on this loop
                    waiter: asyncio.Future[None] = loop.create_future()
                    self._room_waiters.append(waiter)
                    try:
                        await waiter
                    except BaseException:  # timed out or cancelled: a wake-up it got goes to the next one
                        if len(self._tasks) < self.max_pending:
                            self._wake_one(loop)
                        raise
                    finally:
                        self._room_waiters.remove(waiter)
        except TimeoutError:
            return len(self._tasks) < self.max_pending
        return True

    async def flush(self, timeout: float | None = None) -> None:
        """Wait for every job queued so far (and for jobs they queue)."""
        current = asyncio.current_task()
        while True:
            tasks = [t for t in self._tasks if t is not current and t.get_loop() is asyncio.get_running_loop()]
            if not tasks:
                return
            await asyncio.wait(tasks, timeout=timeout)
            if timeout is not None:
                return


def finish_in_loop(jobs: BackgroundJobs, timeout: float = 2.0) -> None:
    """For callers that drive the event loop themselves (Mangum's buffered handler runs it only while a
    request is in progress): finish the pending writes before the process may be frozen."""
    if not jobs.pending:
        return
    loop = asyncio.get_event_loop()
    if not loop.is_running():
        loop.run_until_complete(jobs.flush(timeout=timeout))
