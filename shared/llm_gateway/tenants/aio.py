"""Run a synchronous store call off the event loop (inline for a store that does no I/O); a failing store
becomes a clean 503, not a 500."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from llm_gateway.errors import ServiceUnavailableError
from llm_gateway.tenants.table import ConditionFailed

log = logging.getLogger("llm_gateway.tenants")
T = TypeVar("T")


DEFAULT_TIMEOUT = 1.0


async def call_store(
    what: str,
    function: Callable[..., T],
    *args: Any,
    timeout: float = DEFAULT_TIMEOUT,
    blocking: bool = True,
    **kwargs: Any,
) -> T:
    """``function(*args, **kwargs)`` in a worker thread, waited for at most ``timeout`` seconds; with
    ``blocking=False`` (an in-memory store: the call takes microseconds) on the event loop itself."""
    try:
        if not blocking:
            return function(*args, **kwargs)
        async with asyncio.timeout(timeout):
            return await asyncio.to_thread(function, *args, **kwargs)
    except (ConditionFailed, ValueError, LookupError):
        raise  # answers from the store's own logic, for the caller to handle
    except Exception as exc:
        # boto3's messages name tables and request ids, never keys: still, keep the log to the type.
        log.error("%s failed: %s", what, type(exc).__name__)
        raise ServiceUnavailableError(
            f"The gateway could not reach its {what}. Try again shortly.", code="store_unavailable", retry_after=1
        ) from None
