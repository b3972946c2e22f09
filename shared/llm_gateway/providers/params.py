"""The unsupported-parameter policy shared by translating providers (``drop_params``).

A provider lists the OpenAI fields it cannot map. By default such a field is a 400 that names the
parameter and the provider; with ``drop_params`` (per request, else the deployment's config entry) it is
removed and logged instead.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from llm_gateway.errors import InvalidRequestError
from llm_gateway.providers.base import ProviderCall

log = logging.getLogger("llm_gateway.providers")


def drop_params_enabled(call: ProviderCall) -> bool:
    requested = call.request.parsed.drop_params
    if requested is not None:
        return requested
    configured = call.deployment.config.extra_fields.get("drop_params")
    return bool(configured)


def _present(body: dict[str, Any], name: str) -> bool:
    value = body.get(name)
    return value is not None and value not in ([], {})


def apply_unsupported(call: ProviderCall, provider: str, unsupported: Iterable[str]) -> dict[str, Any]:
    """Return ``call.body`` without the unsupported fields it carries, or raise a 400 naming the first."""
    present = [name for name in dict.fromkeys(unsupported) if _present(call.body, name)]
    if not present:
        return call.body
    if not drop_params_enabled(call):
        name = present[0]
        raise InvalidRequestError(
            f"The parameter '{name}' is not supported by the {provider} provider (model "
            f"'{call.deployment.group}'). Remove it, or send \"drop_params\": true to have the gateway drop it.",
            param=name,
            code="unsupported_parameter",
        )
    log.info(
        "dropped unsupported parameters",
        extra={"fields": {"provider": provider, "model": call.deployment.group, "dropped": present}},
    )
    return {k: v for k, v in call.body.items() if k not in present}


def refuse(call: ProviderCall, provider: str, param: str, what: str) -> InvalidRequestError:
    """A 400 for input the provider cannot take at all (no drop possible: it would change the meaning)."""
    return InvalidRequestError(
        f"{what} is not supported by the {provider} provider (model '{call.deployment.group}').",
        param=param,
        code="unsupported_content",
    )
