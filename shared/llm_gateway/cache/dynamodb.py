"""The cache store on DynamoDB (the ``CacheTable`` of ``template.yaml``), through :class:`AsyncTable`.

boto3 blocks, so every call runs in a worker thread (the event loop never waits on a socket) and is
bounded by a timeout; botocore releases the GIL while it waits on the network, so the hop adds well
under a millisecond to a call.
"""

from __future__ import annotations

import contextlib
import threading
from typing import TYPE_CHECKING, Any

from llm_gateway.aws.state_table import ConditionFailed, from_item, to_attr
from llm_gateway.cache.store import LEASE, CacheStore, Item

if TYPE_CHECKING:
    from llm_gateway.aws.state_table import AsyncTable


def to_item(item: Item) -> dict[str, dict[str, Any]]:
    return {name: to_attr(value) for name, value in item.items()}


class DynamoDBCacheStore(CacheStore):
    def __init__(self, table: AsyncTable, **limits: Any) -> None:
        super().__init__(**limits)
        self.table = table

    def warm_up(self) -> None:
        """Create the boto3 client in the background (importing boto3 takes ~0.3 s), so the first
        request's cache read does not pay for it. No network I/O happens here."""
        threading.Thread(target=self.table.client, name="cache-dynamodb-warm-up", daemon=True).start()

    async def _get(self, pk: str, sk: str, *, consistent: bool = False) -> Item | None:
        answer = await self.table.call("get_item", Key=to_item({"pk": pk, "sk": sk}), ConsistentRead=consistent)
        item = answer.get("Item")
        return from_item(item) if item else None

    async def _put(self, item: Item) -> None:
        await self.table.call("put_item", Item=to_item(item))

    async def _put_lease(self, item: Item, now: float) -> bool:
        try:
            await self.table.call(
                "put_item",
                Item=to_item(item),
                ConditionExpression="attribute_not_exists(pk) OR lease_until < :now",
                ExpressionAttributeValues={":now": to_attr(round(now, 3))},
            )
        except ConditionFailed:
            return False
        return True

    async def _delete_lease(self, pk: str, owner: str) -> None:
        with contextlib.suppress(ConditionFailed):  # someone else's lease by now: leave it
            await self.table.call(
                "delete_item",
                Key=to_item({"pk": pk, "sk": LEASE}),
                ConditionExpression="#owner = :owner",
                ExpressionAttributeNames={"#owner": "owner"},
                ExpressionAttributeValues={":owner": to_attr(owner)},
            )
