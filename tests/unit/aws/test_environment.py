"""Defaults that depend on where the gateway runs: Lambda on demand, Lambda Managed Instances, elsewhere."""

from __future__ import annotations

import pytest

from llm_gateway.api.disconnect import watches_disconnects
from llm_gateway.aws.environment import frozen_between_requests, on_lambda, on_managed_instances
from llm_gateway.config import ServerConfig
from llm_gateway.core.afterwards import defers_bookkeeping

ON_DEMAND = {"AWS_LAMBDA_FUNCTION_NAME": "llm-gateway-GatewayFunction"}
SNAPSTART = {**ON_DEMAND, "AWS_LAMBDA_INITIALIZATION_TYPE": "snap-start"}
MANAGED = {**ON_DEMAND, "AWS_LAMBDA_INITIALIZATION_TYPE": "lambda-managed-instances"}


@pytest.mark.parametrize(
    ("env", "lambda_", "managed", "frozen"),
    [
        ({}, False, False, False),
        (ON_DEMAND, True, False, True),
        (SNAPSTART, True, False, True),
        (MANAGED, True, True, False),
    ],
)
def test_where_the_process_runs(env: dict[str, str], lambda_: bool, managed: bool, frozen: bool) -> None:
    assert on_lambda(env) is lambda_
    assert on_managed_instances(env) is managed
    assert frozen_between_requests(env) is frozen


def test_bookkeeping_waits_for_a_quiet_loop_except_where_the_process_may_freeze() -> None:
    server = ServerConfig()
    assert defers_bookkeeping(server, {}) is True
    assert defers_bookkeeping(server, ON_DEMAND) is False
    assert defers_bookkeeping(server, MANAGED) is True  # never frozen between its many requests
    assert defers_bookkeeping(ServerConfig(defer_bookkeeping=False), MANAGED) is False


def test_no_lambda_mode_passes_a_client_departure_on() -> None:
    server = ServerConfig()
    assert watches_disconnects(server, {}) is True
    assert watches_disconnects(server, ON_DEMAND) is False
    assert watches_disconnects(server, MANAGED) is False  # the Web Adapter relays the whole answer either way
