"""Stream tests without a clock: a fake upstream holds the last piece of its stream until the client has
the first content, so the test shows the order of events, never a duration."""

from __future__ import annotations

import asyncio
import threading

HOLD_LIMIT = 30.0
"""Only so that a gateway that buffers fails the test instead of hanging it."""


class FirstBeforeLast:
    """Give it to a fake upstream's stream plan (``last_waits_for=``) and call :meth:`client_has_first`
    when the client reads its first content. A stream forwarded as it comes gets through; one buffered
    anywhere on the way leaves the client with nothing until the hold gives up, and ``in_order`` is False.
    """

    def __init__(self) -> None:
        self._client_has_first = threading.Event()
        self.in_order: bool | None = None  # None: the upstream never reached its last piece

    def client_has_first(self) -> None:
        self._client_has_first.set()

    def before_last(self) -> None:
        """Upstream side, in a thread of its own."""
        self.in_order = self._client_has_first.wait(HOLD_LIMIT)

    async def before_last_async(self) -> None:
        """Upstream side, on its event loop."""
        self.in_order = await asyncio.to_thread(self._client_has_first.wait, HOLD_LIMIT)
