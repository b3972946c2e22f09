"""Hard limits on what one chat request may ask for, checked before validation and any upstream call.

The body size limit lives in ``server.max_body_bytes`` (checked while the body is read). Everything
else is the ``request_limits:`` config section. The nesting depth is measured on the raw bytes (strings
removed, brackets counted in C), so a body nested thousands of levels deep is refused before any parser
builds it; the other limits look at the parsed JSON before pydantic, and only at values of the right type
(a wrong type is left to validation, which names it).
"""

from __future__ import annotations

import re
from itertools import accumulate
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from llm_gateway.errors import InvalidRequestError


class RequestLimits(BaseModel):
    """The ``request_limits:`` config section (see the README's limits table)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_json_depth: int = Field(default=64, ge=4, le=1000, description="Deepest nesting of arrays/objects.")
    max_messages: int = Field(default=2048, ge=1)
    max_content_parts: int = Field(default=512, ge=1, description="Content parts in one message.")
    max_n: int = Field(default=128, ge=1, le=128, description="Choices per request ('n'); OpenAI allows 128.")
    max_output_tokens: int = Field(default=1_000_000, ge=1, description="'max_tokens' / 'max_completion_tokens'.")
    max_stop_sequences: int = Field(default=16, ge=0)
    max_stop_sequence_chars: int = Field(default=1024, ge=1)
    max_tools: int = Field(default=256, ge=0, description="Entries of 'tools' (and legacy 'functions').")
    max_tool_bytes: int = Field(default=256 * 1024, ge=1024, description="JSON size of one tool definition.")
    max_string_chars: int = Field(default=256, ge=1, description="'user', 'service_tier', 'reasoning_effort'.")
    max_logit_bias_entries: int = Field(default=1024, ge=0)


# A JSON string: a quote, then runs of ordinary characters or escapes, then a quote.
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_BRACKETS = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[{]}")


def json_depth(raw: bytes) -> int:
    """The deepest nesting of arrays and objects in JSON text (a best effort on invalid JSON)."""
    openers = raw.count(b"[") + raw.count(b"{")
    if openers <= 1:
        return openers
    structure = _JSON_STRING.sub(b"", raw).translate(_BRACKETS, _NOT_BRACKETS)
    if not structure:
        return 0
    # +1 for an opener, -1 (0xff as a signed byte) for a closer: the running sum is the depth.
    return max(accumulate(memoryview(structure).cast("b")))


def check_json_depth(raw: bytes, limit: int) -> None:
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return  # cannot be deeper than the number of openers
    if json_depth(raw) > limit:
        raise InvalidRequestError(
            f"The request body is nested too deeply: the gateway accepts at most {limit} levels of arrays and objects.",
            code="invalid_value",
        )


def _too_many(param: str, count: int, limit: int, what: str) -> InvalidRequestError:
    return InvalidRequestError(
        f"Invalid '{param}': {count} {what}, but the gateway accepts at most {limit}.",
        param=param,
        code="invalid_value",
    )


def _as_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def check_request_limits(data: Any, limits: RequestLimits) -> None:
    """Raise a 400 naming the parameter when the parsed body asks for more than the limits allow."""
    if not isinstance(data, dict):
        return
    _check_messages(data.get("messages"), limits)
    n = _as_int(data.get("n"))
    if n is not None and n > limits.max_n:
        raise _too_many("n", n, limits.max_n, "choices requested")
    for param in ("max_tokens", "max_completion_tokens"):
        value = _as_int(data.get(param))
        if value is not None and value > limits.max_output_tokens:
            raise _too_many(param, value, limits.max_output_tokens, "tokens requested")
    _check_stop(data.get("stop"), limits)
    for param in ("tools", "functions"):
        _check_tools(param, data.get(param), limits)
    for param in ("user", "service_tier", "reasoning_effort"):
        value = data.get(param)
        if isinstance(value, str) and len(value) > limits.max_string_chars:
            raise InvalidRequestError(
                f"Invalid '{param}': {len(value)} characters, but the gateway accepts at most "
                f"{limits.max_string_chars}.",
                param=param,
                code="string_above_max_length",
            )
    bias = data.get("logit_bias")
    if isinstance(bias, dict) and len(bias) > limits.max_logit_bias_entries:
        raise _too_many("logit_bias", len(bias), limits.max_logit_bias_entries, "entries")


def _check_messages(messages: Any, limits: RequestLimits) -> None:
    if not isinstance(messages, list):
        return
    if len(messages) > limits.max_messages:
        raise _too_many("messages", len(messages), limits.max_messages, "messages")
    for index, message in enumerate(messages):
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list) and len(content) > limits.max_content_parts:
            raise _too_many(f"messages[{index}].content", len(content), limits.max_content_parts, "content parts")


def _check_stop(stop: Any, limits: RequestLimits) -> None:
    sequences = [stop] if isinstance(stop, str) else stop
    if not isinstance(sequences, list):
        return
    if len(sequences) > limits.max_stop_sequences:
        raise _too_many("stop", len(sequences), limits.max_stop_sequences, "stop sequences")
    for sequence in sequences:
        if isinstance(sequence, str) and len(sequence) > limits.max_stop_sequence_chars:
            raise InvalidRequestError(
                f"Invalid 'stop': a stop sequence of {len(sequence)} characters, but the gateway accepts at most "
                f"{limits.max_stop_sequence_chars}.",
                param="stop",
                code="string_above_max_length",
            )


def _check_tools(param: str, tools: Any, limits: RequestLimits) -> None:
    if not isinstance(tools, list):
        return
    if len(tools) > limits.max_tools:
        raise _too_many(param, len(tools), limits.max_tools, "tools")
    import orjson

    for index, tool in enumerate(tools):
        try:
            size = len(orjson.dumps(tool))
        except TypeError:
            continue  # not serialisable back (e.g. a lone surrogate): validation refuses it
        if size > limits.max_tool_bytes:
            raise InvalidRequestError(
                f"Invalid '{param}[{index}]': the definition is {size} bytes of JSON, but the gateway accepts at "
                f"most {limits.max_tool_bytes}.",
                param=f"{param}[{index}]",
                code="invalid_value",
            )
