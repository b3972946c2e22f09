"""Pydantic models of Anthropic's Messages request: what the bridge reads, validated; the rest allowed.

Content blocks are checked for a ``type`` only: a native upstream gets them as they are, and the
translation to chat (:mod:`.to_chat`) says which it cannot carry.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from llm_gateway.errors import InvalidRequestError
from llm_gateway.schemas.validation import validation_error_to_gateway

_OPEN = ConfigDict(strict=True, extra="allow")


class _Open(BaseModel):
    model_config = _OPEN


class Block(_Open):
    type: str = Field(min_length=1)


class InputMessage(_Open):
    role: Literal["user", "assistant", "system"]
    """``system`` mid-conversation: Claude Code sends them (beta ``mid-conversation-system-2026-04-07``)."""
    content: str | list[Block]


class Tool(_Open):
    name: str = Field(min_length=1, max_length=128)
    type: str | None = None
    description: str | None = None
    input_schema: dict[str, Any] | None = None


class ToolChoice(_Open):
    type: Literal["auto", "any", "tool", "none"]
    name: str | None = None
    disable_parallel_tool_use: bool | None = None


class Thinking(_Open):
    type: Literal["enabled", "disabled", "adaptive"]
    budget_tokens: int | None = Field(default=None, ge=0)


class CountTokensRequest(_Open):
    """``POST /v1/messages/count_tokens``: a Messages request without ``max_tokens``."""

    model: str = Field(min_length=1, max_length=256)
    messages: list[InputMessage] = Field(min_length=1)
    system: str | list[Block] | None = None
    tools: list[Tool] | None = None
    tool_choice: ToolChoice | None = None
    thinking: Thinking | None = None


class MessagesRequest(CountTokensRequest):
    """``POST /v1/messages``."""

    max_tokens: int = Field(ge=1)
    stop_sequences: list[str] | None = None
    stream: bool | None = None
    temperature: float | None = Field(default=None, ge=0, le=1)
    top_p: float | None = Field(default=None, ge=0, le=1)
    top_k: int | None = Field(default=None, ge=0)
    metadata: dict[str, Any] | None = None


def validate(model: type[CountTokensRequest], data: Any) -> CountTokensRequest:
    """``data`` as ``model``, or a 400 naming the bad parameter."""
    if not isinstance(data, dict):
        raise InvalidRequestError("The request body must be a JSON object.", code="invalid_type")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_error_to_gateway(exc) from None
    except RecursionError:
        raise InvalidRequestError("The request body is nested too deeply.", code="invalid_value") from None


def openapi_components() -> dict[str, Any]:
    """The request schemas of ``/v1/messages`` and ``/v1/messages/count_tokens`` for the OpenAPI document
    (each named ``Anthropic<model>``: chat has a ``Tool`` of its own)."""
    out: dict[str, Any] = {}
    for model in (MessagesRequest, CountTokensRequest):
        schema = model.model_json_schema(ref_template="#/components/schemas/Anthropic{model}")
        out.update({f"Anthropic{key}": value for key, value in schema.pop("$defs", {}).items()})
        out[f"Anthropic{model.__name__}"] = schema
    return out
