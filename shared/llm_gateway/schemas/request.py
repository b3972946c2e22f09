"""Pydantic models of OpenAI's ``CreateChatCompletionRequest`` plus the gateway's own extensions.

They validate; they do not rewrite. The gateway forwards the client's own JSON (minus the gateway's
extension fields), so values keep their exact form and fields this model does not know yet pass
through to OpenAI-compatible upstreams. Validation is strict (no ``"0.5"`` for a number), as OpenAI's is.

Union tags start with ``@`` so the error formatter can drop them from the ``param`` path.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator

INT64_MAX = 2**63 - 1

_STRICT_OPEN = ConfigDict(strict=True, extra="allow")
_STRICT_CLOSED = ConfigDict(strict=True, extra="forbid", populate_by_name=True)


class _Open(BaseModel):
    model_config = _STRICT_OPEN


# --- content parts ---------------------------------------------------------------------------------


class TextPart(_Open):
    type: Literal["text"]
    text: str


class ImageURL(_Open):
    url: str = Field(min_length=1)
    detail: Literal["auto", "low", "high"] | None = None


class ImageURLPart(_Open):
    type: Literal["image_url"]
    image_url: ImageURL


class InputAudio(_Open):
    data: str
    format: str = Field(min_length=1)


class InputAudioPart(_Open):
    type: Literal["input_audio"]
    input_audio: InputAudio


class FileRef(_Open):
    filename: str | None = None
    file_data: str | None = None
    file_id: str | None = None

    @model_validator(mode="after")
    def _has_data_or_id(self) -> FileRef:
        if self.file_data is None and self.file_id is None:
            raise ValueError("'file_data' or 'file_id' is required in a file part")
        return self


class FilePart(_Open):
    type: Literal["file"]
    file: FileRef


class DocumentPart(_Open):
    """A document block (Anthropic-style ``source``); providers that take documents map it."""

    type: Literal["document"]
    source: dict[str, Any] | None = None


class VideoURL(_Open):
    url: str = Field(min_length=1)


class VideoURLPart(_Open):
    type: Literal["video_url"]
    video_url: VideoURL


class RefusalPart(_Open):
    type: Literal["refusal"]
    refusal: str


def _tag_of(field: str, allowed: frozenset[str]) -> Any:
    def pick(value: Any) -> str | None:
        tag = value.get(field) if isinstance(value, dict) else getattr(value, field, None)
        return f"@{tag}" if isinstance(tag, str) and tag in allowed else None

    return pick


_USER_PART_TYPES = frozenset({"text", "image_url", "input_audio", "file", "document", "video_url"})

UserPart = Annotated[
    Annotated[TextPart, Tag("@text")]
    | Annotated[ImageURLPart, Tag("@image_url")]
    | Annotated[InputAudioPart, Tag("@input_audio")]
    | Annotated[FilePart, Tag("@file")]
    | Annotated[DocumentPart, Tag("@document")]
    | Annotated[VideoURLPart, Tag("@video_url")],
    Discriminator(
        _tag_of("type", _USER_PART_TYPES),
        custom_error_type="invalid_content_part",
        custom_error_message="expected a content part whose 'type' is one of: " + ", ".join(sorted(_USER_PART_TYPES)),
    ),
]

TextOnlyPart = Annotated[
    Annotated[TextPart, Tag("@text")],
    Discriminator(
        _tag_of("type", frozenset({"text"})),
        custom_error_type="invalid_content_part",
        custom_error_message="expected a content part of type 'text'",
    ),
]

AssistantPart = Annotated[
    Annotated[TextPart, Tag("@text")] | Annotated[RefusalPart, Tag("@refusal")],
    Discriminator(
        _tag_of("type", frozenset({"text", "refusal"})),
        custom_error_type="invalid_content_part",
        custom_error_message="expected a content part whose 'type' is 'text' or 'refusal'",
    ),
]


def _content_kind(value: Any) -> str | None:
    if isinstance(value, str):
        return "@string"
    if isinstance(value, list):
        return "@parts"
    return None


def _content(part: Any, *, nullable: bool = False) -> Any:
    message = "expected a string or an array of content parts" + (" or null" if nullable else "")
    union = Annotated[
        Annotated[str, Tag("@string")] | Annotated[list[part], Tag("@parts")],
        Discriminator(_content_kind, custom_error_type="invalid_content", custom_error_message=message),
    ]
    return union | None if nullable else union


# --- messages --------------------------------------------------------------------------------------


class FunctionCall(_Open):
    name: str
    arguments: str


class ToolCall(_Open):
    id: str
    type: Literal["function", "custom"] = "function"
    function: FunctionCall | None = None
    custom: dict[str, Any] | None = None


class SystemMessage(_Open):
    role: Literal["system"]
    content: _content(TextOnlyPart)  # type: ignore[valid-type]
    name: str | None = None


class DeveloperMessage(_Open):
    role: Literal["developer"]
    content: _content(TextOnlyPart)  # type: ignore[valid-type]
    name: str | None = None


class UserMessage(_Open):
    role: Literal["user"]
    content: _content(UserPart)  # type: ignore[valid-type]
    name: str | None = None


class AssistantMessage(_Open):
    role: Literal["assistant"]
    content: _content(AssistantPart, nullable=True) = None  # type: ignore[valid-type]
    refusal: str | None = None
    name: str | None = None
    tool_calls: list[ToolCall] | None = None
    function_call: FunctionCall | None = None
    audio: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _says_something(self) -> AssistantMessage:
        if self.content is None and not self.tool_calls and self.function_call is None and self.audio is None:
            raise ValueError("'content' is required unless 'tool_calls' or 'function_call' is given")
        return self


class ToolMessage(_Open):
    role: Literal["tool"]
    content: _content(TextOnlyPart)  # type: ignore[valid-type]
    tool_call_id: str


class FunctionMessage(_Open):
    role: Literal["function"]
    content: str | None
    name: str


ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})

Message = Annotated[
    Annotated[SystemMessage, Tag("@system")]
    | Annotated[DeveloperMessage, Tag("@developer")]
    | Annotated[UserMessage, Tag("@user")]
    | Annotated[AssistantMessage, Tag("@assistant")]
    | Annotated[ToolMessage, Tag("@tool")]
    | Annotated[FunctionMessage, Tag("@function")],
    Discriminator(
        _tag_of("role", ROLES),
        custom_error_type="invalid_role",
        custom_error_message="expected a message whose 'role' is one of: " + ", ".join(sorted(ROLES)),
    ),
]


# --- tools, formats, options -----------------------------------------------------------------------


class FunctionDefinition(_Open):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class FunctionTool(_Open):
    type: Literal["function"]
    function: FunctionDefinition


class CustomTool(_Open):
    type: Literal["custom"]
    custom: dict[str, Any]


Tool = Annotated[
    Annotated[FunctionTool, Tag("@function")] | Annotated[CustomTool, Tag("@custom")],
    Discriminator(
        _tag_of("type", frozenset({"function", "custom"})),
        custom_error_type="invalid_tool",
        custom_error_message="expected a tool whose 'type' is 'function' or 'custom'",
    ),
]


class NamedFunction(_Open):
    name: str


class NamedToolChoice(_Open):
    type: Literal["function", "custom", "allowed_tools"]
    function: NamedFunction | None = None
    custom: dict[str, Any] | None = None
    allowed_tools: dict[str, Any] | None = None


class JSONSchemaFormat(_Open):
    name: str = Field(min_length=1, max_length=64)
    description: str | None = None
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    strict: bool | None = None


class ResponseFormat(_Open):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: JSONSchemaFormat | None = None

    @model_validator(mode="after")
    def _schema_given(self) -> ResponseFormat:
        if self.type == "json_schema" and self.json_schema is None:
            raise ValueError("'json_schema' is required when the response_format type is 'json_schema'")
        return self


class StreamOptions(_Open):
    include_usage: bool | None = None
    include_obfuscation: bool | None = None


# --- gateway extensions ----------------------------------------------------------------------------


class CacheControls(BaseModel):
    """Per-request cache controls (the ``cache`` field); see the README."""

    model_config = _STRICT_CLOSED

    no_cache: bool = Field(default=False, alias="no-cache")
    no_store: bool = Field(default=False, alias="no-store")
    ttl: int | None = Field(default=None, ge=0, le=365 * 24 * 3600)
    s_maxage: int | None = Field(default=None, alias="s-maxage", ge=0)
    namespace: str | None = Field(default=None, min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:\-]+$")


GATEWAY_EXTENSION_FIELDS = frozenset(
    {"guardrails", "caching", "cache", "num_retries", "fallbacks", "context_window_fallback_dict", "drop_params"}
)


class ChatCompletionRequest(_Open):
    """OpenAI's request body; unknown fields are accepted and forwarded."""

    model: str = Field(min_length=1, max_length=256)
    messages: list[Message] = Field(min_length=1)

    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    n: int | None = Field(default=None, ge=1, le=128)
    max_tokens: int | None = Field(default=None, ge=1, le=INT64_MAX)
    max_completion_tokens: int | None = Field(default=None, ge=1, le=INT64_MAX)
    stop: str | list[str] | None = None
    seed: int | None = Field(default=None, ge=-(2**63), le=INT64_MAX)
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    logit_bias: dict[str, Annotated[int, Field(ge=-100, le=100)]] | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = Field(default=None, ge=0, le=20)
    response_format: ResponseFormat | None = None
    stream: bool | None = None
    stream_options: StreamOptions | None = None
    tools: list[Tool] | None = None
    tool_choice: Literal["none", "auto", "required"] | NamedToolChoice | None = None
    parallel_tool_calls: bool | None = None
    functions: list[FunctionDefinition] | None = None
    function_call: Literal["none", "auto"] | NamedFunction | None = None
    metadata: dict[str, Annotated[str, Field(max_length=512)]] | None = None
    user: str | None = None
    store: bool | None = None
    reasoning_effort: str | None = None
    service_tier: str | None = None
    modalities: list[str] | None = None

    # Gateway extensions: validated here, never forwarded upstream.
    guardrails: list[Annotated[str, Field(min_length=1)]] | None = None
    caching: bool | None = None
    cache: CacheControls | None = None
    num_retries: int | None = Field(default=None, ge=0, le=10)
    fallbacks: list[Annotated[str, Field(min_length=1)]] | None = None
    context_window_fallback_dict: dict[str, str] | None = None
    drop_params: bool | None = None

    @model_validator(mode="after")
    def _coherent(self) -> ChatCompletionRequest:
        if self.top_logprobs is not None and self.logprobs is not True:
            raise ValueError("'top_logprobs' requires 'logprobs' to be true")
        if self.stream_options is not None and not self.stream:
            raise ValueError("'stream_options' is only allowed when 'stream' is true")
        return self
