"""Where the gateway runs: several defaults differ under Lambda, which freezes the process between
invocations and does not pass a client's departure on to the app."""

from __future__ import annotations

from collections.abc import Mapping

LAMBDA_FUNCTION_ENV = "AWS_LAMBDA_FUNCTION_NAME"


def on_lambda(env: Mapping[str, str]) -> bool:
    """Whether this process is a Lambda execution environment (Lambda sets the function's name)."""
    return bool(env.get(LAMBDA_FUNCTION_ENV))
