"""``async with within(seconds)``: :func:`asyncio.timeout` for the request path, at a fraction of its cost.

Every upstream call runs inside two bounds: the router's (the time the request has left) and the
provider's (the same, or the deployment's own per-attempt timeout when that is shorter). Usually the two
are equal, and a second timer that can only fire after the first is pure cost. :class:`within` keeps the
earliest bound of the running task in a context variable: a nested bound that would not fire before an
enclosing one of the same task arms no timer of its own. When the enclosing bound fires, the inner block
sees the cancellation go through and the outer block turns it into :class:`TimeoutError`, exactly as with
two ``asyncio.timeout`` blocks (whose earlier timer fires first).

Semantics are asyncio's: on expiry the task is cancelled, and leaving the block turns that cancellation
into ``TimeoutError``; a cancellation from anywhere else goes through untouched. A child task inherits the
context but not the bound (its parent's timer cancels the parent), so it arms its own timer.
"""

from __future__ import annotations

import asyncio
import contextvars
from types import TracebackType

_NO_BOUND: tuple[asyncio.Task[object] | None, float] = (None, float("inf"))
_bound: contextvars.ContextVar[tuple[asyncio.Task[object] | None, float]] = contextvars.ContextVar(
    "llm_gateway_deadline", default=_NO_BOUND
)


class within:  # used like asyncio.timeout
    """Bound the block to ``delay`` seconds (``None``: no bound); :class:`TimeoutError` when they run out."""

    __slots__ = ("_cancelling", "_delay", "_expired", "_handle", "_task", "_token")

    def __init__(self, delay: float | None) -> None:
        self._delay = delay
        self._handle: asyncio.TimerHandle | asyncio.Handle | None = None
        self._expired = False
        self._token: contextvars.Token[tuple[asyncio.Task[object] | None, float]] | None = None

    async def __aenter__(self) -> within:
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("within() must be used inside a task")
        self._task = task
        self._cancelling = task.cancelling()
        if self._delay is None:
            return self
        loop = task.get_loop()
        when = loop.time() + self._delay
        bound_task, bound_when = _bound.get()
        if bound_task is task and bound_when <= when:
            return self  # an enclosing block of this task fires first: no timer needed
        self._token = _bound.set((task, when))
        if when <= loop.time():
            self._handle = loop.call_soon(self._on_timeout)
        else:
            self._handle = loop.call_at(when, self._on_timeout)
        return self

    def _on_timeout(self) -> None:
        self._handle = None
        self._expired = True
        self._task.cancel()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if self._token is not None:
            _bound.reset(self._token)
            self._token = None
        if self._expired and self._task.uncancel() <= self._cancelling and exc_type is asyncio.CancelledError:
            raise TimeoutError from exc

    @property
    def expired(self) -> bool:
        """Whether the bound ran out (and the block was cancelled for it)."""
        return self._expired
