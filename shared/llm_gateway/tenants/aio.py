"""Bound a store call and turn a failing store into a clean 503, not a 500."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import TypeVar

from llm_gateway.errors import ServiceUnavailableError
from llm_gateway.tables.base import ConditionFailed, TableUnavailable

log = logging.getLogger("llm_gateway.tenants")
T = TypeVar("T")


DEFAULT_TIMEOUT = 1.0


async def call_store(what: str, call: Awaitable[T], *, timeout: float = DEFAULT_TIMEOUT, blocking: bool = True) -> T:
    """``await call``, for at most ``timeout`` seconds; with ``blocking=False`` (a store without I/O: the call
    never waits) without a timer."""
    try:
        if not blocking:
            return await call
        async with asyncio.timeout(timeout):
            return await call
    except (ConditionFailed, ValueError, LookupError):
        raise  # answers from the store's own logic, for the caller to handle
    except Exception as exc:
        # table errors name the operation, the table and AWS's error code, never a key
        log.error("%s failed: %s", what, exc if isinstance(exc, TableUnavailable) else type(exc).__name__)
        raise ServiceUnavailableError(
            f"The gateway could not reach its {what}. Try again shortly.", code="store_unavailable", retry_after=1
        ) from None
