"""Async access to one DynamoDB table through a (sync, lazily built) boto3 client.

boto3 blocks, so each call runs in a worker thread: a slow table never stalls other requests' streams.
Every call is bounded by ``timeout``; any failure (network, throttling, missing table) surfaces as
:class:`TableUnavailable`, except a failed condition, which is :class:`ConditionFailed` and carries the
item as it was (``ReturnValuesOnConditionCheckFailure=ALL_OLD``), so no second read is needed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal
from typing import Any


class TableUnavailable(Exception):
    """The table could not be reached or refused the call."""


class ConditionFailed(Exception):
    def __init__(self, old_item: dict[str, Any] | None) -> None:
        super().__init__("condition failed")
        self.old_item = old_item


class AsyncTable:
    def __init__(self, client_factory: Callable[[], Any], table_name: str, *, timeout: float = 1.0) -> None:
        self._client_factory = client_factory
        self._client: Any = None
        self.table_name = table_name
        self.timeout = timeout

    def client(self) -> Any:
        if self._client is None:
            self._client = self._client_factory()
        return self._client

    async def call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        def run() -> dict[str, Any]:
            method = getattr(self.client(), operation)
            result: dict[str, Any] = method(TableName=self.table_name, **kwargs)
            return result

        try:
            async with asyncio.timeout(self.timeout):
                return await asyncio.to_thread(run)
        except TimeoutError:
            raise TableUnavailable(f"{operation} on {self.table_name} timed out") from None
        except Exception as exc:
            if _error_code(exc) == "ConditionalCheckFailedException":
                item = getattr(exc, "response", {}).get("Item")
                raise ConditionFailed(from_item(item) if item else None) from None
            raise TableUnavailable(f"{operation} on {self.table_name} failed: {type(exc).__name__}") from exc


def _error_code(exc: Exception) -> str | None:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        return code if isinstance(code, str) else None
    return None


def to_attr(value: Any) -> dict[str, Any]:
    """A Python value as a DynamoDB attribute value (str, bytes, bool, int/float)."""
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, bytes):
        return {"B": value}
    if isinstance(value, int | float | Decimal):
        return {"N": _number(value)}
    raise TypeError(f"unsupported attribute value {type(value).__name__}")


def _number(value: float | Decimal) -> str:
    if isinstance(value, float):
        return repr(round(value, 6))
    return str(value)


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    """A DynamoDB item as plain Python values (numbers as float)."""
    out: dict[str, Any] = {}
    for name, attr in item.items():
        (kind, raw), *_ = attr.items()
        if kind == "N":
            out[name] = float(raw)
        elif kind == "BOOL":
            out[name] = bool(raw)
        else:
            out[name] = raw
    return out


def attrs(**values: Any) -> dict[str, dict[str, Any]]:
    """``ExpressionAttributeValues`` from keyword arguments (``now=3`` -> ``{":now": {"N": "3"}}``)."""
    return {f":{name}": to_attr(value) for name, value in values.items()}
