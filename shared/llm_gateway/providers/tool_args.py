"""Tool-call ``arguments`` (a JSON object as text) -> the object translating providers send upstream."""

from __future__ import annotations

from typing import Any

import orjson

from llm_gateway.errors import InvalidRequestError


def parse_tool_arguments(arguments: Any, param: str, provider: str) -> dict[str, Any]:
    """Empty or missing arguments mean ``{}``; anything but a JSON object is a 400 naming ``param``."""
    if arguments is None or (isinstance(arguments, str) and not arguments.strip()):
        return {}
    try:
        value = orjson.loads(arguments) if isinstance(arguments, str) else arguments
    except orjson.JSONDecodeError:
        raise InvalidRequestError(
            f"The tool call arguments are not valid JSON; the {provider} provider needs a JSON object. "
            "Send the arguments the model produced, as a JSON string.",
            param=param,
            code="invalid_tool_arguments",
        ) from None
    if not isinstance(value, dict):
        raise InvalidRequestError(
            f"The tool call arguments must be a JSON object for the {provider} provider.",
            param=param,
            code="invalid_tool_arguments",
        )
    return value
