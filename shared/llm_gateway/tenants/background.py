"""Work done after the answer has gone out (usage records, spend, token settlement).

Jobs start at once as asyncio tasks, at most ``concurrency`` of them talking to DynamoDB at a time;
past ``max_pending`` queued jobs new ones are dropped and counted (the request log reports it), so a slow
table can never grow memory without bound. :meth:`flush` waits for everything queued: the app calls it
on shutdown (uvicorn's lifespan, which the Lambda Web Adapter triggers on SIGTERM) and tests call it
before they read the tables.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger("llm_gateway.tenants")


class BackgroundJobs:
    def __init__(self, *, concurrency: int = 8, max_pending: int = 10_000) -> None:
        self.concurrency = concurrency
        self.max_pending = max_pending
        self._tasks: set[asyncio.Task[None]] = set()
        self._semaphore: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.dropped = 0
        self.failed = 0

    def _gate(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if self._semaphore is None or self._loop is not loop:
            self._semaphore, self._loop = asyncio.Semaphore(self.concurrency), loop
        return self._semaphore

    def submit(self, what: str, job: Callable[[], Awaitable[None]]) -> bool:
        """Run ``job`` soon; ``False`` (and nothing runs) when too much is already pending."""
        if len(self._tasks) >= self.max_pending:
            self.dropped += 1
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
        task.add_done_callback(self._tasks.discard)
        return True

    @property
    def pending(self) -> int:
        return len(self._tasks)

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
