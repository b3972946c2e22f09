"""OpenAI's ``CreateEmbeddingRequest`` plus the gateway's own extensions, and the validated request.

As for chat, the gateway forwards the client's own JSON (minus its extension fields) to OpenAI-compatible
upstreams, so fields this model does not know pass through; translating providers refuse them by name.
``input`` is checked here by hand (a string, a list of strings, a token array or a list of token
arrays; never empty, at most 2048 items) so that a bad one gets a 400 naming exactly where it is wrong.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from llm_gateway.core.tokens import estimate_text_tokens
from llm_gateway.errors import InvalidRequestError
from llm_gateway.schemas.request import CacheControls
from llm_gateway.schemas.validation import validation_error_to_gateway

MAX_INPUTS = 2048
"""OpenAI's limit on the items of ``input`` (strings, tokens of one array, or arrays)."""

EMBEDDING_EXTENSION_FIELDS = frozenset(
    {"guardrails", "caching", "cache", "num_retries", "fallbacks", "drop_params", "metadata"}
)
"""Gateway fields of an embeddings request: validated, never forwarded upstream."""

NOT_FOR_EMBEDDINGS = ("context_window_fallback_dict",)
"""Chat extensions that mean nothing for embeddings: a 400 rather than a silent no-op."""


class EmbeddingsRequestModel(BaseModel):
    """OpenAI's request body (``input`` validated apart); unknown fields are accepted and forwarded."""

    model_config = ConfigDict(strict=True, extra="allow")

    model: str = Field(min_length=1, max_length=256)
    input: Any = Field(
        json_schema_extra={
            "anyOf": [
                {"type": "string", "minLength": 1},
                {"type": "array", "minItems": 1, "maxItems": MAX_INPUTS, "items": {"type": "string", "minLength": 1}},
                {"type": "array", "minItems": 1, "maxItems": MAX_INPUTS, "items": {"type": "integer", "minimum": 0}},
                {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": MAX_INPUTS,
                    "items": {"type": "array", "minItems": 1, "items": {"type": "integer", "minimum": 0}},
                },
            ]
        }
    )
    encoding_format: Literal["float", "base64"] | None = None
    dimensions: int | None = Field(default=None, ge=1, le=65536)
    user: str | None = None

    # Gateway extensions: validated here, never forwarded upstream.
    guardrails: list[Annotated[str, Field(min_length=1)]] | None = None
    caching: bool | None = None
    cache: CacheControls | None = None
    num_retries: int | None = Field(default=None, ge=0, le=10)
    fallbacks: list[Annotated[str, Field(min_length=1)]] | None = None
    drop_params: bool | None = None
    metadata: dict[str, Annotated[str, Field(max_length=512)]] | None = None
    """Recorded with the request's usage record (as chat's ``metadata`` is); OpenAI's API has none."""


@dataclass(frozen=True)
class EmbeddingInput:
    """``input`` as a list: strings (``texts``) or token arrays (``tokens``), never both."""

    texts: tuple[str, ...] | None = None
    tokens: tuple[tuple[int, ...], ...] | None = None

    def __len__(self) -> int:
        return len(self.texts if self.texts is not None else self.tokens or ())

    def token_bound(self) -> int:
        """At most this many tokens: a byte of text is never less than a token; token arrays count exactly."""
        if self.texts is not None:
            return sum(len(text.encode()) for text in self.texts)
        return sum(len(tokens) for tokens in self.tokens or ())

    def estimated_tokens(self) -> int:
        """About four characters a token for texts (no tokenizer at cold start); token arrays count exactly."""
        if self.texts is not None:
            return sum(estimate_text_tokens(len(text)) for text in self.texts)
        return sum(len(ids) for ids in self.tokens or ())

    def as_json(self) -> list[str] | list[list[int]]:
        if self.texts is not None:
            return list(self.texts)
        return [list(ids) for ids in self.tokens or ()]


def _is_token(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _invalid(param: str, message: str) -> InvalidRequestError:
    return InvalidRequestError(f"Invalid '{param}': {message}", param=param, code="invalid_value")


def _token_array(values: list[Any], param: str) -> tuple[int, ...]:
    if not values:
        raise _invalid(param, "a token array cannot be empty.")
    if len(values) > MAX_INPUTS and param == "input":
        raise _invalid(param, f"expected at most {MAX_INPUTS} tokens, got {len(values)}.")
    for index, value in enumerate(values):
        if not _is_token(value) or value < 0:
            raise _invalid(f"{param}[{index}]", "a token must be a non-negative integer.")
    return tuple(values)


def parse_input(value: Any) -> EmbeddingInput:
    """``input`` as an :class:`EmbeddingInput`, or a 400 naming the first bad item."""
    if isinstance(value, str):
        if not value:
            raise _invalid("input", "cannot be an empty string.")
        return EmbeddingInput(texts=(value,))
    if not isinstance(value, list):
        raise _invalid("input", "expected a string, an array of strings, or an array of token arrays.")
    if not value:
        raise _invalid("input", "expected at least 1 item, got 0.")
    first = value[0]
    if _is_token(first):
        return EmbeddingInput(tokens=(_token_array(value, "input"),))
    if len(value) > MAX_INPUTS:
        raise _invalid("input", f"expected at most {MAX_INPUTS} items, got {len(value)}.")
    if isinstance(first, str):
        for index, text in enumerate(value):
            if not isinstance(text, str):
                raise _invalid(f"input[{index}]", "every item must be a string when the first one is.")
            if not text:
                raise _invalid(f"input[{index}]", "cannot be an empty string.")
        return EmbeddingInput(texts=tuple(value))
    if isinstance(first, list):
        arrays = []
        for index, item in enumerate(value):
            if not isinstance(item, list):
                raise _invalid(f"input[{index}]", "every item must be a token array when the first one is.")
            arrays.append(_token_array(item, f"input[{index}]"))
        return EmbeddingInput(tokens=tuple(arrays))
    raise _invalid("input[0]", "expected a string, a token, or a token array.")


@dataclass
class EmbeddingRequest:
    """A validated embeddings request: the client's own JSON plus typed access to what the gateway reads."""

    body: dict[str, Any]
    parsed: EmbeddingsRequestModel = field(repr=False)
    input: EmbeddingInput = field(repr=False)

    stream = False  # an embedding is never streamed (the usage record says so)

    @property
    def model(self) -> str:
        return self.parsed.model

    @property
    def encoding_format(self) -> Literal["float", "base64"]:
        return self.parsed.encoding_format or "float"

    @property
    def dimensions(self) -> int | None:
        return self.parsed.dimensions

    @property
    def cache_controls(self) -> CacheControls | None:
        return self.parsed.cache

    def upstream_body(self) -> dict[str, Any]:
        """The body to forward: the client's JSON without the gateway's own extension fields."""
        return {k: v for k, v in self.body.items() if k not in EMBEDDING_EXTENSION_FIELDS}

    def extra_fields(self) -> list[str]:
        """Fields of the upstream body that OpenAI's API does not define (translating providers refuse them)."""
        known = EmbeddingsRequestModel.model_fields
        return [name for name in self.upstream_body() if name not in known]

    def with_texts(self, texts: list[str]) -> EmbeddingRequest:
        """A copy whose input is ``texts`` (guardrails rewrite them), in the client's own form."""
        assert self.input.texts is not None and len(texts) == len(self.input.texts)
        value: str | list[str] = texts[0] if isinstance(self.body.get("input"), str) else list(texts)
        return EmbeddingRequest(
            body={**self.body, "input": value}, parsed=self.parsed, input=EmbeddingInput(texts=tuple(texts))
        )


def validate_embedding_request(data: Any) -> EmbeddingRequest:
    if not isinstance(data, dict):
        raise InvalidRequestError("The request body must be a JSON object.", code="invalid_type")
    for name in NOT_FOR_EMBEDDINGS:
        if data.get(name) is not None:
            raise InvalidRequestError(
                f"The parameter '{name}' does not apply to embeddings.", param=name, code="unsupported_parameter"
            )
    try:
        parsed = EmbeddingsRequestModel.model_validate(data)
    except ValidationError as exc:
        raise validation_error_to_gateway(exc) from None
    return EmbeddingRequest(body=data, parsed=parsed, input=parse_input(data["input"]))
