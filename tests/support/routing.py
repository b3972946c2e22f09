"""Test helpers for routing: a controllable clock and sleeper, a scripted random source, and a DynamoDB
client that counts its calls."""

from __future__ import annotations

import random
import threading
from collections import Counter
from typing import Any

from llm_gateway.aws.clients import AwsClients


class FakeTime:
    """Wall clock, monotonic clock and sleeper in one: ``sleep`` records the wait and moves both clocks."""

    def __init__(self, wall: float = 1_800_000_000.0) -> None:
        self.wall = wall
        self.mono = 10_000.0
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def clock(self) -> float:
        return self.wall

    def monotonic(self) -> float:
        return self.mono

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.wall += seconds
            self.mono += seconds

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(seconds)

    def options(self) -> dict[str, Any]:
        return {"clock": self.clock, "monotonic": self.monotonic, "sleep": self.sleep}


class FixedRandom(random.Random):
    """``random()`` always returns ``value``: weighted picks take a fixed slot (0.1 -> the first
    deployment), and full jitter waits exactly ``value`` of its ceiling."""

    def __init__(self, value: float = 0.1) -> None:
        super().__init__(0)
        self.value = value

    def random(self) -> float:
        return self.value


class CountingDynamo:
    """A real boto3 DynamoDB client (pointed at moto) that counts calls by operation."""

    def __init__(self, endpoint: str, *, connect_timeout: float = 1.0, read_timeout: float = 2.0) -> None:
        import boto3
        from botocore.config import Config

        self.calls: Counter[str] = Counter()
        self.client = boto3.client(
            "dynamodb",
            endpoint_url=endpoint,
            region_name="us-east-1",
            config=Config(connect_timeout=connect_timeout, read_timeout=read_timeout, retries={"max_attempts": 1}),
        )
        self.client.meta.events.register("before-call.dynamodb", self._count)

    def _count(self, model: Any, **_: Any) -> None:
        self.calls[model.name] += 1

    @property
    def reads(self) -> int:
        return sum(n for op, n in self.calls.items() if op in ("GetItem", "Query", "Scan", "BatchGetItem"))

    @property
    def writes(self) -> int:
        return sum(n for op, n in self.calls.items() if op in ("PutItem", "UpdateItem", "DeleteItem"))

    def reset(self) -> None:
        self.calls.clear()

    def aws_clients(self) -> AwsClients:
        return AwsClients(overrides={"dynamodb": self.client})


def two_deployments(api_base: str, name: str = "gpt-test", **router: Any) -> dict[str, Any]:
    """One model group with two deployments on the same fake server (upstream models model-a, model-b)."""
    deployment = {"name": name, "provider": "openai", "api_base": api_base, "api_key": "sk-upstream-secret-key-abc"}
    return {
        "models": [{**deployment, "model": "model-a"}, {**deployment, "model": "model-b"}],
        "router": router,
    }


def groups(api_base: str, names: dict[str, str], **router: Any) -> dict[str, Any]:
    """One deployment per group: ``{group name: upstream model}``."""
    return {
        "models": [
            {"name": group, "provider": "openai", "model": model, "api_base": api_base, "api_key": "sk-upstream-k"}
            for group, model in names.items()
        ],
        "router": router,
    }


def upstream_models(fake: Any) -> list[str]:
    return [r.json()["model"] for r in fake.chat_requests()]


def moto_state_table(request: Any) -> Any:
    """A ``DynamoTable`` on this test's moto StateTable (for store-level tests parametrised by backend)."""
    from llm_gateway.tables.dynamodb import DynamoTable, fixed_client

    tables = request.getfixturevalue("dynamodb_tables")
    dynamo = CountingDynamo(request.getfixturevalue("moto_endpoint"))
    return DynamoTable(fixed_client(dynamo.client), tables["LLM_GATEWAY_STATE_TABLE"], timeout=5)
