"""Turn a request body into a validated :class:`ChatRequest`, or a 400 that names the bad ``param``."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson
from pydantic import ValidationError

from llm_gateway.errors import InvalidRequestError
from llm_gateway.schemas.request import GATEWAY_EXTENSION_FIELDS, CacheControls, ChatCompletionRequest

if TYPE_CHECKING:
    from llm_gateway.schemas.native import NativeRequest


@dataclass
class ChatRequest:
    """A validated chat request: the client's own JSON plus typed access to what the gateway reads."""

    body: dict[str, Any]
    parsed: ChatCompletionRequest = field(repr=False)
    native: NativeRequest | None = None
    """The inbound body of a bridged endpoint (``/v1/responses``, ``/v1/messages``); ``None`` for chat."""

    @property
    def model(self) -> str:
        return self.parsed.model

    @property
    def stream(self) -> bool:
        return bool(self.parsed.stream)

    @property
    def include_usage(self) -> bool:
        options = self.parsed.stream_options
        return bool(options is not None and options.include_usage)

    @property
    def n(self) -> int:
        return self.parsed.n or 1

    @property
    def cache_controls(self) -> CacheControls | None:
        return self.parsed.cache

    def upstream_body(self) -> dict[str, Any]:
        """The body to forward: the client's JSON without the gateway's own extension fields."""
        return {k: v for k, v in self.body.items() if k not in GATEWAY_EXTENSION_FIELDS}

    def with_body(self, body: dict[str, Any]) -> ChatRequest:
        """A copy with a rewritten body (guardrails, fallbacks); the body must stay valid. A native body
        rides along only while the conversation is unchanged (a guardrail that rewrote a message means
        the native body no longer says what the layers checked: the request is bridged)."""
        same = self.native is not None and body.get("messages") == self.body.get("messages")
        return ChatRequest(
            body=body, parsed=ChatCompletionRequest.model_validate(body), native=self.native if same else None
        )


def parse_json_body(raw: bytes) -> Any:
    if not raw.strip():
        raise InvalidRequestError("The request body is empty. Send a JSON object.", code="invalid_json")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        reason = str(exc).split(":", 1)[0]
        raise InvalidRequestError(
            f"We could not parse the JSON body of your request ({reason}). Send a valid JSON object.",
            code="invalid_json",
        ) from None


def validate_chat_request(data: Any) -> ChatRequest:
    if not isinstance(data, dict):
        raise InvalidRequestError(
            f"The request body must be a JSON object, not {_json_type(data)}.", code="invalid_type"
        )
    try:
        parsed = ChatCompletionRequest.model_validate(data)
    except ValidationError as exc:
        raise validation_error_to_gateway(exc) from None
    except RecursionError:
        raise InvalidRequestError("The request body is nested too deeply.", code="invalid_value") from None
    return ChatRequest(body=data, parsed=parsed)


_QUOTED_NAME = re.compile(r"^'([A-Za-z_][A-Za-z0-9_\-]*)'")


def format_param(loc: tuple[int | str, ...]) -> str | None:
    """``('messages', 0, '@user', 'content')`` -> ``messages[0].content``; union tags are dropped."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _is_union_label(part):
            continue
        else:
            out += f".{part}" if out else part
    return out or None


_TYPE_LABELS = frozenset({"str", "int", "float", "bool", "none", "dict", "list", "bytes"})


def _is_union_label(part: str) -> bool:
    """Pydantic puts union tags and member labels in ``loc`` (``@user``, ``str``, ``literal['a']``,
    ``NamedToolChoice``, ``function-after[...]``); none of them is a field name."""
    return part.startswith("@") or part in _TYPE_LABELS or any(c in part for c in "[('\"") or part[:1].isupper()


_MESSAGES = {
    "missing": "Missing required parameter: '{param}'.",
    "extra_forbidden": "Unrecognized parameter: '{param}'.",
    "too_short": "Invalid '{param}': expected at least {min_length} item(s), got {actual_length}.",
    "too_long": "Invalid '{param}': expected at most {max_length} item(s), got {actual_length}.",
    "string_too_short": "Invalid '{param}': string too short (minimum length {min_length}).",
    "string_too_long": "Invalid '{param}': string too long (maximum length {max_length}).",
}


def validation_error_to_gateway(exc: ValidationError) -> InvalidRequestError:
    errors = exc.errors(include_url=False)
    first = _most_specific(errors)
    loc = tuple(first["loc"])
    msg = str(first["msg"])
    param = format_param(loc)
    if first["type"] == "value_error":
        msg = msg.removeprefix("Value error, ")
        named = _QUOTED_NAME.match(msg)
        if named:
            param = f"{param}.{named.group(1)}" if param else named.group(1)
    elif first["type"] in ("invalid_role", "invalid_content_part", "invalid_tool"):
        key = "role" if first["type"] == "invalid_role" else "type"
        param = f"{param}.{key}" if param else key
        given = first.get("input")
        if isinstance(given, dict):
            first = {**first, "input": given.get(key)}
    ctx = dict(first.get("ctx") or {})
    template = _MESSAGES.get(first["type"])
    if template is not None:
        try:
            text = template.format(param=param, **ctx)
        except (KeyError, IndexError):
            text = f"Invalid '{param}': {msg}."
    elif first["type"] == "value_error":
        text = f"Invalid '{param}': {msg}." if param else f"Invalid request: {msg}."
    else:
        given = first.get("input")
        got = repr(given) if isinstance(given, str) and len(given) <= 40 else _json_type(given)
        text = f"Invalid value for '{param}': {msg} (got {got})." if param else f"Invalid request: {msg}."
    extra = len(errors) - 1
    if extra > 0:
        text += f" ({extra} more problem{'s' if extra > 1 else ''} in the request.)"
    code = "missing_required_parameter" if first["type"] == "missing" else "invalid_value"
    if first["type"] in ("invalid_role", "invalid_content", "invalid_content_part", "invalid_tool") or first[
        "type"
    ].endswith("_type"):
        code = "invalid_type" if first["type"].endswith("_type") else "invalid_value"
    return InvalidRequestError(text, param=param, code=code)


def _most_specific(errors: list[Any]) -> Any:
    # Prefer a top-level problem (missing 'model') over a deep one, then the first reported.
    return min(errors, key=lambda e: (len(e["loc"]) > 0 and e["type"] != "missing", 0))


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__
