"""The DynamoDB backend of :class:`~llm_gateway.tenants.table.Table` (boto3 client injected).

One operation per primitive: ``GetItem``, ``TransactWriteItems`` (or one conditional ``PutItem``),
``UpdateItem ADD`` with ``ReturnValues=UPDATED_NEW`` (and ``ALL_OLD`` on a failed condition), ``Query``,
``Scan``. Reads are eventually consistent: half the cost, and at most about a second behind.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from llm_gateway.tenants.table import ConditionFailed, Item, Put, Table


def to_dynamo(value: Any) -> Any:
    """Python value -> DynamoDB typed value (floats go through ``Decimal(str(x))``)."""
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int | float | Decimal):
        return {"N": str(Decimal(str(value)) if isinstance(value, float) else value)}
    if isinstance(value, str):
        return {"S": value}
    if value is None:
        return {"NULL": True}
    if isinstance(value, Mapping):
        return {"M": {str(k): to_dynamo(v) for k, v in value.items()}}
    if isinstance(value, list | tuple):
        return {"L": [to_dynamo(v) for v in value]}
    raise TypeError(f"cannot store {type(value).__name__} in DynamoDB")


def from_dynamo(typed: Mapping[str, Any]) -> Any:
    (kind, value), *_ = typed.items()
    if kind == "N":
        number = Decimal(value)
        return int(number) if number == number.to_integral_value() else float(number)
    if kind == "M":
        return {k: from_dynamo(v) for k, v in value.items()}
    if kind == "L":
        return [from_dynamo(v) for v in value]
    if kind == "NULL":
        return None
    return value  # S, BOOL


def item_from_dynamo(raw: Mapping[str, Any]) -> Item:
    return {name: from_dynamo(value) for name, value in raw.items()}


def item_to_dynamo(item: Mapping[str, Any]) -> dict[str, Any]:
    return {name: to_dynamo(value) for name, value in item.items()}


class DynamoTable(Table):
    def __init__(self, client: Any, table_name: str) -> None:
        self.client = client
        self.name = table_name

    def get(self, pk: str, sk: str) -> Item | None:
        response = self.client.get_item(TableName=self.name, Key={"pk": {"S": pk}, "sk": {"S": sk}})
        raw = response.get("Item")
        return item_from_dynamo(raw) if raw else None

    def _condition(self, write: Put) -> dict[str, Any]:
        if write.if_absent:
            return {"ConditionExpression": "attribute_not_exists(pk)"}
        if write.if_equals:
            names = {f"#c{i}": name for i, name in enumerate(write.if_equals)}
            values = {f":c{i}": to_dynamo(value) for i, value in enumerate(write.if_equals.values())}
            clause = " AND ".join(f"#c{i} = :c{i}" for i in range(len(names)))
            return {
                "ConditionExpression": clause,
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
            }
        return {}

    def transact(self, writes: list[Put]) -> None:
        client = self.client
        if len(writes) == 1:
            write = writes[0]
            try:
                client.put_item(
                    TableName=self.name,
                    Item=item_to_dynamo(write.item),
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                    **self._condition(write),
                )
            except client.exceptions.ConditionalCheckFailedException as exc:
                raise ConditionFailed(_old_item(exc)) from None
            return
        requests = [
            {"Put": {"TableName": self.name, "Item": item_to_dynamo(write.item), **self._condition(write)}}
            for write in writes
        ]
        try:
            client.transact_write_items(TransactItems=requests)
        except client.exceptions.TransactionCanceledException:
            raise ConditionFailed(None) from None

    def add(
        self,
        pk: str,
        sk: str,
        increments: Mapping[str, float],
        *,
        set_values: Mapping[str, Any] | None = None,
        below: Mapping[str, float] | None = None,
    ) -> Item:
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        adds, sets, conditions = [], [], []
        for i, (name, amount) in enumerate(increments.items()):
            names[f"#a{i}"] = name
            values[f":a{i}"] = to_dynamo(amount)
            adds.append(f"#a{i} :a{i}")
        for i, (name, value) in enumerate((set_values or {}).items()):
            names[f"#s{i}"] = name
            values[f":s{i}"] = to_dynamo(value)
            sets.append(f"#s{i} = :s{i}")
        for i, (name, bound) in enumerate((below or {}).items()):
            names[f"#b{i}"] = name
            values[f":b{i}"] = to_dynamo(bound)
            conditions.append(f"(attribute_not_exists(#b{i}) OR #b{i} < :b{i})")
        expression = ("ADD " + ", ".join(adds)) if adds else ""
        if sets:
            expression += " SET " + ", ".join(sets)
        kwargs: dict[str, Any] = {
            "TableName": self.name,
            "Key": {"pk": {"S": pk}, "sk": {"S": sk}},
            "UpdateExpression": expression.strip(),
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
            "ReturnValues": "ALL_NEW",
        }
        if conditions:
            kwargs["ConditionExpression"] = " AND ".join(conditions)
            kwargs["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        try:
            response = self.client.update_item(**kwargs)
        except self.client.exceptions.ConditionalCheckFailedException as exc:
            raise ConditionFailed(_old_item(exc)) from None
        return item_from_dynamo(response.get("Attributes") or {})

    def query(self, pk: str, sk_from: str | None = None, sk_to: str | None = None) -> list[Item]:
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
        return self._pages(
            "query", KeyConditionExpression=condition, ExpressionAttributeValues=values, TableName=self.name
        )

    def scan(self, pk_prefix: str) -> list[Item]:
        return self._pages(
            "scan",
            TableName=self.name,
            FilterExpression="begins_with(pk, :prefix)",
            ExpressionAttributeValues={":prefix": {"S": pk_prefix}},
        )

    def _pages(self, operation: str, **kwargs: Any) -> list[Item]:
        paginator = self.client.get_paginator(operation)
        items: list[Item] = []
        for page in paginator.paginate(**kwargs):
            items.extend(item_from_dynamo(raw) for raw in page.get("Items", []))
        return items


def _old_item(exc: Any) -> Item | None:
    raw = getattr(exc, "response", {}).get("Item")
    return item_from_dynamo(raw) if raw else None
