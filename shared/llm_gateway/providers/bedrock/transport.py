"""Run the blocking boto3 client off the event loop.

``converse`` runs in a worker thread. ``converse_stream`` is opened and iterated in a worker thread
that hands each event to the loop through an ``asyncio.Queue``; the worker may run at most
``buffer`` events ahead of the consumer (backpressure), and :meth:`EventPump.close` (consumer done,
cancelled or failed) makes it stop and closes the EventStream, releasing the HTTP connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

OPEN, EVENT, END, ERROR = "open", "event", "end", "error"


class EventPump:
    def __init__(self, open_stream: Callable[[], Any], executor: ThreadPoolExecutor, *, buffer: int = 64) -> None:
        self._open_stream = open_stream
        self._executor = executor
        self._queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self._room = threading.Semaphore(buffer)
        self._closed = threading.Event()
        self._stream: Any = None
        self._loop = asyncio.get_running_loop()
        self._worker = self._loop.run_in_executor(executor, self._run)

    def _put(self, kind: str, value: Any) -> bool:
        while not self._room.acquire(timeout=0.1):
            if self._closed.is_set():
                return False
        if self._closed.is_set():
            return False
        try:
            self._loop.call_soon_threadsafe(self._queue.put_nowait, (kind, value))
        except RuntimeError:  # the loop is gone
            self._closed.set()
            return False
        return True

    def _run(self) -> None:
        try:
            response = self._open_stream()
            self._stream = response["stream"]
            request_id = (response.get("ResponseMetadata") or {}).get("RequestId")
            if not self._put(OPEN, request_id):
                return
            for event in self._stream:
                if not self._put(EVENT, event):
                    return
            self._put(END, None)
        except BaseException as exc:
            if not self._closed.is_set():
                self._put(ERROR, exc)
        finally:
            if self._closed.is_set():
                self._close_stream()

    async def next(self, timeout: float) -> tuple[str, Any]:
        """The next ``(kind, value)``; raises ``TimeoutError`` after ``timeout`` seconds of silence."""
        item = await asyncio.wait_for(self._queue.get(), timeout)
        self._room.release()
        return item

    def _close_stream(self) -> None:
        stream = self._stream
        if stream is not None:
            with contextlib.suppress(Exception):  # closing a broken stream may fail; nothing to do
                stream.close()

    def close(self) -> None:
        """Stop the worker and close the upstream stream (idempotent; never blocks the loop for long)."""
        if self._closed.is_set():
            return
        self._closed.set()
        self._close_stream()


class ThreadRunner:
    """A provider-owned thread pool (the loop's default pool is small and shared with everything else)."""

    def __init__(self, max_workers: int = 64) -> None:
        self._max_workers = max_workers
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    @property
    def executor(self) -> ThreadPoolExecutor:
        if self._executor is None:
            with self._lock:
                if self._executor is None:
                    self._executor = ThreadPoolExecutor(self._max_workers, thread_name_prefix="bedrock")
        return self._executor

    async def run(self, fn: Callable[[], Any]) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn)

    def pump(self, open_stream: Callable[[], Any]) -> EventPump:
        return EventPump(open_stream, self.executor)

    def shutdown(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
