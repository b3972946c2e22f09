"""The DynamoDB table: boto3's client, with boto3's own ``TypeSerializer`` / ``TypeDeserializer``.

boto3 blocks, so each call (serialising, the request, decoding the answer) runs in a worker thread: a
slow table never stalls other requests' streams; botocore releases the GIL while it waits on the
network. The client comes from the process's AWS client factory on first use (importing boto3 costs
about 0.3 s, so nothing here imports it before then). One operation per primitive: ``GetItem``,
``PutItem``, ``UpdateItem`` (``ReturnValues=ALL_NEW``), ``DeleteItem``, ``TransactWriteItems``,
``Query``, ``Scan``, and ``BatchWriteItem`` for batches of puts (25 a call, unprocessed items sent
again with a short backoff). A failed condition hands back the item as it was
(``ReturnValuesOnConditionCheckFailure=ALL_OLD``). Reads are eventually consistent unless asked.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any, ClassVar, TypeVar

from llm_gateway.tables.base import BATCH_WRITE_MAX, BatchIncomplete, ConditionFailed, Put, Table, TableUnavailable
from llm_gateway.tables.conditions import Condition, Item, Placeholders

T = TypeVar("T")
AwsClientFactory = Callable[..., Any]


@functools.cache
def _codec() -> tuple[Any, Any, type[Any]]:
    from boto3.dynamodb.types import Binary, TypeDeserializer, TypeSerializer

    return TypeSerializer(), TypeDeserializer(), Binary


def _to_dynamo(value: Any) -> Any:
    """What ``TypeSerializer`` takes: floats become ``Decimal`` (it refuses floats, which are inexact)."""
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, Mapping):
        return {str(k): _to_dynamo(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_to_dynamo(v) for v in value]
    return value


def _plain(value: Any, binary: type[Any]) -> Any:
    """What ``TypeDeserializer`` gives, as plain Python: whole numbers as ``int``, others as ``float``,
    binary values as ``bytes``."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v, binary) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v, binary) for v in value]
    if isinstance(value, set):
        return {_plain(v, binary) for v in value}
    if isinstance(value, binary):
        return value.value  # boto3's Binary holds the bytes
    return value


def serialize(value: Any) -> dict[str, Any]:
    typed: dict[str, Any] = _codec()[0].serialize(_to_dynamo(value))
    return typed


def to_attributes(item: Mapping[str, Any]) -> dict[str, Any]:
    return {name: serialize(value) for name, value in item.items()}


def from_attributes(raw: Mapping[str, Any]) -> Item:
    _, deserializer, binary = _codec()
    return {name: _plain(deserializer.deserialize(value), binary) for name, value in raw.items()}


def _error_code(exc: BaseException) -> str | None:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = (response.get("Error") or {}).get("Code")
        return code if isinstance(code, str) else None
    return None


BATCH_ATTEMPTS = 5
"""``BatchWriteItem`` calls per chunk at most: the first and four for what it left unprocessed."""
BATCH_BACKOFF = 0.05
"""Seconds before the first resend of unprocessed items; doubled each time."""


def _key(pk: str, sk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


class DynamoTable(Table):
    """One table through ``clients("dynamodb", ...)``. ``timeout`` bounds each call (``None``: only
    botocore's own timeouts do); :meth:`tuned` gives a handle with another bound or client settings."""

    blocking: ClassVar[bool] = True

    def __init__(
        self,
        clients: AwsClientFactory,
        name: str,
        *,
        timeout: float | None = None,
        region: str | None = None,
        endpoint_url: str | None = None,
        client_settings: Mapping[str, Any] | None = None,
    ) -> None:
        self.name = name
        self.timeout = timeout
        self._clients = clients
        self._region = region
        self._endpoint_url = endpoint_url
        self._settings = dict(client_settings or {})
        self._client: Any = None

    def client(self) -> Any:
        if self._client is None:
            self._client = self._clients(
                "dynamodb", region=self._region, endpoint_url=self._endpoint_url, **self._settings
            )
        return self._client

    def tuned(self, *, timeout: float | None = None, **client_settings: Any) -> DynamoTable:
        return DynamoTable(
            self._clients,
            self.name,
            timeout=self.timeout if timeout is None else timeout,
            region=self._region,
            endpoint_url=self._endpoint_url,
            client_settings={**self._settings, **client_settings},
        )

    def warm_up(self) -> None:
        """Create the client (and load boto3) in a background thread, so the first call does not pay for
        it. No network I/O happens here."""

        def build() -> None:
            self.client()
            _codec()

        threading.Thread(target=build, name=f"dynamodb-warm-up-{self.name}", daemon=True).start()

    # -- calls --------------------------------------------------------------------------------------

    async def _run(self, operation: str, work: Callable[[Any], T]) -> T:
        def call() -> T:
            try:
                return work(self.client())
            except Exception as exc:
                code = _error_code(exc)
                if code == "ConditionalCheckFailedException":
                    old = getattr(exc, "response", {}).get("Item")
                    raise ConditionFailed(from_attributes(old) if old else None) from None
                if code == "TransactionCanceledException":
                    raise ConditionFailed(None) from None
                raise TableUnavailable(f"{operation} on {self.name} failed: {code or type(exc).__name__}") from exc

        try:
            if self.timeout is None:
                return await asyncio.to_thread(call)
            async with asyncio.timeout(self.timeout):
                return await asyncio.to_thread(call)
        except TimeoutError:
            raise TableUnavailable(f"{operation} on {self.name} timed out") from None

    def _conditional(self, condition: Condition | None, placeholders: Placeholders) -> dict[str, Any]:
        if condition is None:
            return {}
        return {
            "ConditionExpression": condition.render(placeholders),
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }

    @staticmethod
    def _expression_maps(placeholders: Placeholders) -> dict[str, Any]:
        maps: dict[str, Any] = {}
        if placeholders.names:
            maps["ExpressionAttributeNames"] = placeholders.names
        if placeholders.values:
            maps["ExpressionAttributeValues"] = {k: serialize(v) for k, v in placeholders.values.items()}
        return maps

    async def get(self, pk: str, sk: str, *, consistent: bool = False) -> Item | None:
        def work(client: Any) -> Item | None:
            raw = client.get_item(TableName=self.name, Key=_key(pk, sk), ConsistentRead=consistent).get("Item")
            return from_attributes(raw) if raw else None

        return await self._run("GetItem", work)

    def _put_request(self, item: Item, condition: Condition | None) -> dict[str, Any]:
        placeholders = Placeholders()
        request = {"TableName": self.name, "Item": to_attributes(item), **self._conditional(condition, placeholders)}
        request.update(self._expression_maps(placeholders))
        return request

    async def put(self, item: Item, *, condition: Condition | None = None) -> None:
        await self._run("PutItem", lambda client: client.put_item(**self._put_request(item, condition)))

    async def update(
        self,
        pk: str,
        sk: str,
        *,
        add: Mapping[str, float] | None = None,
        set_values: Mapping[str, Any] | None = None,
        remove: Sequence[str] = (),
        condition: Condition | None = None,
    ) -> Item:
        def work(client: Any) -> Item:
            placeholders = Placeholders()
            adds = [f"{placeholders.name(k)} {placeholders.value(v)}" for k, v in (add or {}).items()]
            sets = [f"{placeholders.name(k)} = {placeholders.value(v)}" for k, v in (set_values or {}).items()]
            removes = [placeholders.name(name) for name in remove]
            clauses = ([f"ADD {', '.join(adds)}"] if adds else []) + ([f"SET {', '.join(sets)}"] if sets else [])
            clauses += [f"REMOVE {', '.join(removes)}"] if removes else []
            request = {
                "TableName": self.name,
                "Key": _key(pk, sk),
                "UpdateExpression": " ".join(clauses),
                "ReturnValues": "ALL_NEW",
                **self._conditional(condition, placeholders),
            }
            request.update(self._expression_maps(placeholders))
            return from_attributes(client.update_item(**request).get("Attributes") or {})

        if not add and not set_values and not remove:
            raise ValueError("an update needs something to add, set or remove")
        return await self._run("UpdateItem", work)

    async def delete(self, pk: str, sk: str, *, condition: Condition | None = None) -> None:
        def work(client: Any) -> None:
            placeholders = Placeholders()
            request = {"TableName": self.name, "Key": _key(pk, sk), **self._conditional(condition, placeholders)}
            request.update(self._expression_maps(placeholders))
            client.delete_item(**request)

        await self._run("DeleteItem", work)

    async def batch_put(self, items: Sequence[Item]) -> None:
        """One ``BatchWriteItem`` per 25 items, one after the other; what DynamoDB leaves unprocessed (it does
        so under throttling) is sent again, up to :data:`BATCH_ATTEMPTS` calls a chunk, waiting a little
        longer each time. Whatever is still unwritten (unprocessed, or in a chunk whose call failed, and
        every chunk after it) raises :class:`BatchIncomplete` with those items."""
        for start in range(0, len(items), BATCH_WRITE_MAX):
            chunk = list(items[start : start + BATCH_WRITE_MAX])
            try:
                await self._batch_chunk(chunk)
            except BatchIncomplete as failed:
                raise BatchIncomplete(str(failed), [*failed.unwritten, *items[start + BATCH_WRITE_MAX :]]) from None
            except TableUnavailable as failed:
                raise BatchIncomplete(str(failed), list(items[start:])) from None

    async def _batch_chunk(self, chunk: list[Item]) -> None:
        requests = [{"PutRequest": {"Item": to_attributes(item)}} for item in chunk]
        for attempt in range(BATCH_ATTEMPTS):
            if attempt:
                await asyncio.sleep(BATCH_BACKOFF * 2 ** (attempt - 1))
            pending = requests

            def work(client: Any, pending: list[dict[str, Any]] = pending) -> list[dict[str, Any]]:
                answer = client.batch_write_item(RequestItems={self.name: pending})
                left: list[dict[str, Any]] = (answer.get("UnprocessedItems") or {}).get(self.name) or []
                return left

            requests = await self._run("BatchWriteItem", work)
            if not requests:
                return
        left = [from_attributes(request["PutRequest"]["Item"]) for request in requests]
        raise BatchIncomplete(f"BatchWriteItem on {self.name} left {len(left)} items unprocessed", left)

    async def transact(self, writes: Sequence[Put]) -> None:
        if len(writes) == 1:  # one conditional PutItem costs half a transaction
            await self.put(writes[0].item, condition=writes[0].condition)
            return

        def work(client: Any) -> None:
            entries = []
            for write in writes:
                request = self._put_request(write.item, write.condition)
                request.pop("ReturnValuesOnConditionCheckFailure", None)
                entries.append({"Put": request})
            client.transact_write_items(TransactItems=entries)

        await self._run("TransactWriteItems", work)

    async def query(self, pk: str, sk_from: str | None = None, sk_to: str | None = None) -> list[Item]:
        values: dict[str, Any] = {":pk": {"S": pk}}
        condition = "pk = :pk"
        if sk_from is not None and sk_to is not None:
            condition += " AND sk BETWEEN :lo AND :hi"
            values.update({":lo": {"S": sk_from}, ":hi": {"S": sk_to}})
        elif sk_from is not None:
            condition += " AND sk >= :lo"
            values[":lo"] = {"S": sk_from}
        elif sk_to is not None:
            condition += " AND sk <= :hi"
            values[":hi"] = {"S": sk_to}
        return await self._pages(
            "Query", "query", TableName=self.name, KeyConditionExpression=condition, ExpressionAttributeValues=values
        )

    async def scan(self, pk_prefix: str) -> list[Item]:
        return await self._pages(
            "Scan",
            "scan",
            TableName=self.name,
            FilterExpression="begins_with(pk, :prefix)",
            ExpressionAttributeValues={":prefix": {"S": pk_prefix}},
        )

    async def _pages(self, operation: str, method: str, **request: Any) -> list[Item]:
        def work(client: Any) -> list[Item]:
            items: list[Item] = []
            for page in client.get_paginator(method).paginate(**request):
                items.extend(from_attributes(raw) for raw in page.get("Items", []))
            return items

        return await self._run(operation, work)


def fixed_client(client: Any) -> AwsClientFactory:
    """A client factory that always returns ``client`` (tests, and callers that hold a client already)."""
    return lambda *_args, **_settings: client
