"""The cache store on DynamoDB (the ``CacheTable`` of ``template.yaml``).

boto3 blocks, so each call runs in a small thread pool of the store's own: the event loop never waits
on a socket, and a stalled table ties up at most these threads (the caller bounds each call with a
timeout and serves a miss). botocore releases the GIL while it waits on the network, so the threads
cost little; the hop adds well under a millisecond to a call.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from llm_gateway.cache.store import LEASE, CacheStore, Item, error_code

T = TypeVar("T")


def to_attributes(item: Item) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name, value in item.items():
        if isinstance(value, bool):
            out[name] = {"BOOL": value}
        elif isinstance(value, bytes | bytearray):
            out[name] = {"B": bytes(value)}
        elif isinstance(value, int | float):
            out[name] = {"N": repr(value)}
        else:
            out[name] = {"S": str(value)}
    return out


def from_attributes(attributes: dict[str, dict[str, Any]]) -> Item:
    out: Item = {}
    for name, typed in attributes.items():
        kind, value = next(iter(typed.items()))
        if kind == "N":
            out[name] = float(value) if any(c in value for c in ".eE") else int(value)
        elif kind == "B":
            out[name] = bytes(value)
        else:
            out[name] = value
    return out


class DynamoDBCacheStore(CacheStore):
    def __init__(
        self,
        table: str,
        client: Callable[[], Any],
        *,
        max_workers: int = 8,
        **limits: Any,
    ) -> None:
        """``client`` returns the (lazily created, cached) low-level DynamoDB client."""
        super().__init__(**limits)
        self.table = table
        self._client = client
        self._executor = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="cache-dynamodb")

    def warm_up(self) -> None:
        """Create the boto3 client in the background (importing boto3 takes ~0.3 s), so the first
        request's cache read does not pay for it. No network I/O happens here."""
        self._executor.submit(self._client)

    async def _call(self, function: Callable[..., T], /, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(function, **kwargs))

    def _run(self, operation: str, **kwargs: Any) -> Any:
        return getattr(self._client(), operation)(TableName=self.table, **kwargs)

    async def _get(self, pk: str, sk: str, *, consistent: bool = False) -> Item | None:
        key = to_attributes({"pk": pk, "sk": sk})
        answer = await self._call(self._run, operation="get_item", Key=key, ConsistentRead=consistent)
        item = answer.get("Item")
        return from_attributes(item) if item else None

    async def _put(self, item: Item) -> None:
        await self._call(self._run, operation="put_item", Item=to_attributes(item))

    async def _put_lease(self, item: Item, now: float) -> bool:
        try:
            await self._call(
                self._run,
                operation="put_item",
                Item=to_attributes(item),
                ConditionExpression="attribute_not_exists(pk) OR lease_until < :now",
                ExpressionAttributeValues={":now": {"N": repr(round(now, 3))}},
            )
        except Exception as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    async def _delete_lease(self, pk: str, owner: str) -> None:
        try:
            await self._call(
                self._run,
                operation="delete_item",
                Key=to_attributes({"pk": pk, "sk": LEASE}),
                ConditionExpression="#owner = :owner",
                ExpressionAttributeNames={"#owner": "owner"},
                ExpressionAttributeValues={":owner": {"S": owner}},
            )
        except Exception as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise

    async def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
