"""Where the gateway runs: several defaults differ under Lambda, and between its two ways of running it.

- Lambda on demand: one request per execution environment, which Lambda may freeze as soon as the
  response is sent; a client's departure is not passed on to the app.
- Lambda Managed Instances (``AWS_LAMBDA_INITIALIZATION_TYPE=lambda-managed-instances``): many concurrent
  requests per execution environment, which runs continuously and is never frozen between them; still no
  client departures (the Web Adapter relays the response whatever the client does).
"""

from __future__ import annotations

from collections.abc import Mapping

LAMBDA_FUNCTION_ENV = "AWS_LAMBDA_FUNCTION_NAME"
INITIALIZATION_TYPE_ENV = "AWS_LAMBDA_INITIALIZATION_TYPE"
MANAGED_INSTANCES = "lambda-managed-instances"
SNAP_START = "snap-start"


def on_lambda(env: Mapping[str, str]) -> bool:
    """Whether this process is a Lambda execution environment (Lambda sets the function's name)."""
    return bool(env.get(LAMBDA_FUNCTION_ENV))


def on_managed_instances(env: Mapping[str, str]) -> bool:
    """Whether this is a Lambda Managed Instances execution environment (many requests at once)."""
    return on_lambda(env) and env.get(INITIALIZATION_TYPE_ENV) == MANAGED_INSTANCES


def frozen_between_requests(env: Mapping[str, str]) -> bool:
    """Whether the process may be frozen the moment a response is complete (Lambda on demand): work left
    for later would wait for the next invocation, or be lost with the environment."""
    return on_lambda(env) and not on_managed_instances(env)
