"""Work a request owes once its answer is settled: its access log line, usage record and metrics line.

None of it changes the answer, yet done inline it sits on the answer's path and, under load, on the path of
every request queued behind it on the event loop: answers that come back from upstream together (a burst
of clients, or 32 of them in step) are each delayed by the bookkeeping of all those before them. With
:class:`Afterwards` a request queues that work and answers at once; the queue runs when the loop has caught
up: once no request has queued anything for ``quiet`` seconds, and never later than ``max_delay`` after its
oldest job. A long queue runs ``batch`` jobs (or a quarter of the queue) per loop turn, so it never holds the
loop for long either.

- Jobs run in the order they were queued, each in the ``contextvars`` context of the code that queued it
  (log fields bound for its request included). A job that fails is logged and counted; it never reaches a
  request.
- A job takes the figures that depend on when it runs (a request's latency, a timestamp) when it is queued.
- Readers of what the jobs write call :meth:`flush` first (the spend report, a budget check), so none of
  them reads behind a finished request; shutdown flushes too.
- Off (``enabled=False``), a job runs when it is queued. That is the setting under Lambda on demand, which
  may freeze the process as soon as the response is sent: a queued log line would wait for the next
  invocation. On Lambda Managed Instances the environment runs on between its many concurrent requests,
  so the queue is on there (shutdown flushes it).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections import deque
from collections.abc import Callable, Mapping

from llm_gateway.aws.environment import frozen_between_requests
from llm_gateway.config import ServerConfig

log = logging.getLogger("llm_gateway.afterwards")

Job = Callable[[], None]

QUIET = 0.001
"""Seconds without a newly queued job after which the queue runs: a burst of answers has been sent."""
MAX_DELAY = 0.05
"""The longest a job waits, under a load steady enough never to leave the loop quiet."""
BATCH = 16
"""Jobs run per loop turn (or a quarter of the queue, if more): the loop handles I/O between batches, and
a queue fed faster than 16 jobs a turn still drains."""
MAX_PENDING = 2_000
"""A queue this long runs at once (memory stays bounded if the loop never gets round to it)."""


class Afterwards:
    def __init__(
        self,
        *,
        enabled: bool = True,
        quiet: float = QUIET,
        max_delay: float = MAX_DELAY,
        batch: int = BATCH,
        max_pending: int = MAX_PENDING,
    ) -> None:
        self.enabled = enabled
        self.quiet = quiet
        self.max_delay = max_delay
        self.batch = max(1, batch)
        self.max_pending = max_pending
        self.failed = 0
        self._jobs: deque[tuple[contextvars.Context, Job]] = deque()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.Handle | None = None
        self._draining = False
        self._last = 0.0
        self._oldest = 0.0

    @property
    def pending(self) -> int:
        return len(self._jobs)

    def run(self, job: Job) -> None:
        """Run ``job`` once the loop is quiet (at once when off, or outside an event loop)."""
        loop = _running_loop() if self.enabled else None
        if loop is None:
            self._run_one(job)
            return
        if loop is not self._loop:  # a new loop (the old one's timer will never fire): settle its jobs first
            self.flush()
            self._loop = loop
        now = loop.time()
        if not self._jobs:
            self._oldest = now
        self._last = now
        self._jobs.append((contextvars.copy_context(), job))
        if len(self._jobs) >= self.max_pending:
            self.flush()
        elif self._timer is None:
            self._timer = loop.call_at(now + self.quiet, self._tick)

    def flush(self) -> None:
        """Run every queued job now, in order (jobs queued meanwhile included)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._draining = False
        while self._jobs:
            context, job = self._jobs.popleft()
            self._run_one(job, context)

    def _tick(self) -> None:
        self._timer = None
        loop = self._loop
        if loop is None or not self._jobs:
            self._draining = False
            return
        if not self._draining:
            due = min(self._last + self.quiet, self._oldest + self.max_delay)
            if loop.time() < due:
                self._timer = loop.call_at(due, self._tick)
                return
        for _ in range(max(self.batch, len(self._jobs) // 4)):  # a queue that grows drains faster
            if not self._jobs:  # a job may have flushed the rest
                break
            context, job = self._jobs.popleft()
            self._run_one(job, context)
        self._draining = bool(self._jobs)
        if self._draining and self._timer is None:
            self._timer = loop.call_soon(self._tick)

    def _run_one(self, job: Job, context: contextvars.Context | None = None) -> None:
        try:
            if context is None:
                job()
            else:
                context.run(job)
        except Exception:
            self.failed += 1
            log.exception("after-response job failed")


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def defers_bookkeeping(server: ServerConfig, env: Mapping[str, str]) -> bool:
    """``server.defer_bookkeeping``; by default on, except under Lambda on demand (frozen after each answer)."""
    if server.defer_bookkeeping is not None:
        return server.defer_bookkeeping
    return not frozen_between_requests(env)
