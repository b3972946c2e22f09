"""OpenAI's ``CreateResponse`` body: the fields the gateway reads, validated; what cannot be bridged, refused.

Top-level fields are those of the published spec plus the gateway's extension fields (which go on to the
chat request: ``fallbacks``, ``cache``, ``guardrails``...); an unknown one is a 400, as OpenAI answers.
``input`` items are checked as they are translated (:mod:`.to_chat`), each problem naming its ``param``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from llm_gateway.errors import InvalidRequestError
from llm_gateway.schemas.request import GATEWAY_EXTENSION_FIELDS
from llm_gateway.schemas.validation import validation_error_to_gateway

_STRICT = ConfigDict(strict=True, extra="allow")

HOSTED_TOOLS = frozenset(
    {
        "file_search",
        "code_interpreter",
        "computer",
        "computer_use_preview",
        "image_generation",
        "mcp",
        "web_search",
        "web_search_preview",
        "web_search_preview_2025_03_11",
        "web_search_2025_08_26",
        "local_shell",
        "shell",
        "apply_patch",
        "tool_search",
        "namespace",
        "programmatic_tool_calling",
        "custom",
    }
)
"""Tools the upstream would run itself (or that chat has no form for): refused with a 400."""


class _Open(BaseModel):
    model_config = _STRICT


class Reasoning(_Open):
    effort: Literal["none", "minimal", "low", "medium", "high", "xhigh"] | None = None
    summary: Literal["auto", "concise", "detailed"] | None = None
    generate_summary: Literal["auto", "concise", "detailed"] | None = None


class TextFormat(_Open):
    type: Literal["text", "json_schema", "json_object"]
    name: str | None = Field(default=None, min_length=1, max_length=64)
    description: str | None = None
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    strict: bool | None = None


class TextParam(_Open):
    format: TextFormat | None = None
    verbosity: Literal["low", "medium", "high"] | None = None


class StreamOptions(_Open):
    include_obfuscation: bool | None = None


_KNOWN = frozenset(
    {
        "background",
        "context_management",
        "conversation",
        "include",
        "input",
        "instructions",
        "max_output_tokens",
        "max_tool_calls",
        "metadata",
        "model",
        "moderation",
        "parallel_tool_calls",
        "previous_response_id",
        "prompt",
        "prompt_cache_key",
        "prompt_cache_options",
        "prompt_cache_retention",
        "reasoning",
        "safety_identifier",
        "service_tier",
        "store",
        "stream",
        "stream_options",
        "temperature",
        "text",
        "tool_choice",
        "tools",
        "top_logprobs",
        "top_p",
        "truncation",
        "user",
    }
)

_UNBRIDGED = {
    "background": "background responses are not supported by the gateway; send the request without it",
    "conversation": "conversations are not supported by the gateway; use previous_response_id",
    "prompt": "stored prompt templates are not supported by the gateway; send the input itself",
    "context_management": "context management is not supported by the gateway",
}


class CreateResponse(_Open):
    """The fields the bridge reads (the rest of the spec's fields are accepted and left alone)."""

    model: str = Field(min_length=1, max_length=256)
    input: str | list[Any] | None = None
    instructions: str | list[Any] | None = None
    previous_response_id: str | None = Field(default=None, min_length=1, max_length=256)
    store: bool | None = None
    stream: bool | None = None
    stream_options: StreamOptions | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    text: TextParam | None = None
    reasoning: Reasoning | None = None
    max_output_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    top_logprobs: int | None = Field(default=None, ge=0, le=20)
    metadata: dict[str, Annotated[str, Field(max_length=512)]] | None = Field(default=None, max_length=16)
    user: str | None = None
    safety_identifier: str | None = Field(default=None, max_length=64)
    prompt_cache_key: str | None = None
    service_tier: str | None = None
    truncation: Literal["auto", "disabled"] | None = None
    include: list[str] | None = None
    max_tool_calls: int | None = None
    background: bool | None = None


def validate_create_response(data: Any) -> CreateResponse:
    """The body as a :class:`CreateResponse`, or a 400 naming the field."""
    if not isinstance(data, dict):
        raise InvalidRequestError("The request body must be a JSON object.", code="invalid_type")
    for name in data:
        if name not in _KNOWN and name not in GATEWAY_EXTENSION_FIELDS:
            raise InvalidRequestError(f"Unrecognized parameter: '{name}'.", param=name, code="unknown_parameter")
    for name, why in _UNBRIDGED.items():
        if data.get(name) not in (None, False):
            raise InvalidRequestError(
                f"Unsupported parameter '{name}': {why}.", param=name, code="unsupported_parameter"
            )
    try:
        parsed = CreateResponse.model_validate(data)
    except ValidationError as exc:
        raise validation_error_to_gateway(exc) from None
    if parsed.input is None and parsed.previous_response_id is None:
        raise InvalidRequestError(
            "Missing required parameter: 'input'.", param="input", code="missing_required_parameter"
        )
    if parsed.stream_options is not None and not parsed.stream:
        raise InvalidRequestError(
            "Invalid 'stream_options': only allowed when 'stream' is true.", param="stream_options"
        )
    for index, tool in enumerate(parsed.tools or []):
        kind = tool.get("type")
        if kind in HOSTED_TOOLS:
            continue  # only a native upstream serves it (see to_chat: the chat view leaves it out)
        if kind != "function":
            raise InvalidRequestError(
                f"Invalid value for 'tools[{index}].type': expected 'function' (got {kind!r}).",
                param=f"tools[{index}].type",
            )
        if not isinstance(tool.get("name"), str) or not tool["name"]:
            raise InvalidRequestError(
                f"Missing required parameter: 'tools[{index}].name'.",
                param=f"tools[{index}].name",
                code="missing_required_parameter",
            )
    fmt = parsed.text.format if parsed.text is not None else None
    if fmt is not None and fmt.type == "json_schema" and (fmt.name is None or fmt.schema_ is None):
        missing = "name" if fmt.name is None else "schema"
        raise InvalidRequestError(
            f"Missing required parameter: 'text.format.{missing}'.",
            param=f"text.format.{missing}",
            code="missing_required_parameter",
        )
    return parsed
