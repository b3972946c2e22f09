"""The gateway's DynamoDB tables: logical ids in ``template.yaml``, names from the environment.

``template.yaml`` is the one source of truth for their schema: tests and the local embedded DynamoDB
create them from its resource definitions with :func:`table_definitions`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llm_gateway.aws.clients import AwsClientFactory
    from llm_gateway.tables.base import Tables

# logical id in template.yaml -> environment variable holding the deployed table's name
TABLE_ENV = {
    "CacheTable": "LLM_GATEWAY_CACHE_TABLE",
    "StateTable": "LLM_GATEWAY_STATE_TABLE",
    "KeysTable": "LLM_GATEWAY_KEYS_TABLE",
    "UsageTable": "LLM_GATEWAY_USAGE_TABLE",
    "ResponsesTable": "LLM_GATEWAY_RESPONSES_TABLE",
}


@dataclass(frozen=True)
class TableNames:
    cache: str | None = None
    state: str | None = None
    keys: str | None = None
    usage: str | None = None
    responses: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> TableNames:
        return cls(
            cache=env.get(TABLE_ENV["CacheTable"]) or None,
            state=env.get(TABLE_ENV["StateTable"]) or None,
            keys=env.get(TABLE_ENV["KeysTable"]) or None,
            usage=env.get(TABLE_ENV["UsageTable"]) or None,
            responses=env.get(TABLE_ENV["ResponsesTable"]) or None,
        )


def open_tables(env: Mapping[str, str], clients: AwsClientFactory) -> Tables:
    """The tables the environment names, on DynamoDB through ``clients`` (a client is made on first use).

    The endpoint is ``AWS_ENDPOINT_URL_DYNAMODB`` or ``AWS_ENDPOINT_URL`` (a local DynamoDB, moto), else
    AWS's; the region ``AWS_REGION`` or ``AWS_DEFAULT_REGION``, else the AWS configuration's."""
    from llm_gateway.tables.base import Tables

    names = TableNames.from_env(env)
    if not any((names.cache, names.state, names.keys, names.usage, names.responses)):
        return Tables()
    from llm_gateway.tables.dynamodb import DynamoTable

    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None
    endpoint_url = env.get("AWS_ENDPOINT_URL_DYNAMODB") or env.get("AWS_ENDPOINT_URL") or None

    def table(name: str | None) -> DynamoTable | None:
        return DynamoTable(clients, name, region=region, endpoint_url=endpoint_url) if name else None

    return Tables(
        cache=table(names.cache),
        state=table(names.state),
        keys=table(names.keys),
        usage=table(names.usage),
        responses=table(names.responses),
    )


def _cfn_loader() -> Any:
    """A YAML loader that reads CloudFormation short-form tags (``!Ref``, ``!Sub``...) as plain data."""
    import yaml

    class CfnLoader(yaml.SafeLoader):
        pass

    def construct(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
        name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
        return {name: value}

    CfnLoader.add_multi_constructor("!", construct)
    return CfnLoader


def load_template(path: str | Path) -> dict[str, Any]:
    import yaml

    data: dict[str, Any] = yaml.load(Path(path).read_text(encoding="utf-8"), Loader=_cfn_loader())  # noqa: S506
    return data


def table_definitions(template_path: str | Path) -> dict[str, dict[str, Any]]:
    """``{logical_id: CreateTable kwargs (without TableName)}`` for every DynamoDB table in the template."""
    resources = load_template(template_path).get("Resources", {})
    tables: dict[str, dict[str, Any]] = {}
    for logical_id, resource in resources.items():
        if resource.get("Type") != "AWS::DynamoDB::Table":
            continue
        props = resource.get("Properties", {})
        kwargs: dict[str, Any] = {
            "AttributeDefinitions": props["AttributeDefinitions"],
            "KeySchema": props["KeySchema"],
            "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
        }
        for index_kind in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
            if props.get(index_kind):
                kwargs[index_kind] = props[index_kind]
        if props.get("SSESpecification"):
            kwargs["SSESpecification"] = {"Enabled": bool(props["SSESpecification"].get("SSEEnabled"))}
        kwargs["_ttl_attribute"] = (props.get("TimeToLiveSpecification") or {}).get("AttributeName")
        tables[logical_id] = kwargs
    return tables


def create_tables(client: Any, template_path: str | Path, prefix: str = "llm-gateway") -> dict[str, str]:
    """Create every table of the template (for tests and local runs). Returns ``{env var: table name}``."""
    env: dict[str, str] = {}
    for logical_id, kwargs in table_definitions(template_path).items():
        ttl_attribute = kwargs.pop("_ttl_attribute", None)
        name = f"{prefix}-{logical_id}"
        with contextlib.suppress(client.exceptions.ResourceInUseException):
            client.create_table(TableName=name, **kwargs)
        if ttl_attribute:
            client.update_time_to_live(
                TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl_attribute}
            )
        if logical_id in TABLE_ENV:
            env[TABLE_ENV[logical_id]] = name
    return env
