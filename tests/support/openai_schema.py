"""Validate what the gateway emits against OpenAI's published schemas (tests/fixtures copy of
../shared/reference/openai-chat-schemas.json; a test keeps the two identical)."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import jsonschema

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "fixtures" / "openai-chat-schemas.json"


@functools.cache
def _validator(path: Path, name: str) -> jsonschema.protocols.Validator:
    doc = json.loads(path.read_text())
    schema = {"$schema": doc.get("$schema"), "$defs": doc["$defs"], "$ref": f"#/$defs/{name}"}
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema)  # type: ignore[no-any-return]


def check_against(path: Path, name: str, obj: Any) -> Any:
    """``obj`` if it is a valid ``name`` of the schema document at ``path``, else an AssertionError."""
    errors = sorted(_validator(path, name).iter_errors(obj), key=lambda e: list(e.path))
    if errors:
        details = "; ".join(f"{'/'.join(map(str, e.path)) or '(root)'}: {e.message}" for e in errors[:5])
        raise AssertionError(f"not a valid {name}: {details}\n{json.dumps(obj)[:2000]}")
    return obj


def _check(name: str, obj: Any) -> Any:
    return check_against(SCHEMA_PATH, name, obj)


def assert_completion(obj: Any) -> Any:
    return _check("CreateChatCompletionResponse", obj)


def assert_chunk(obj: Any) -> Any:
    return _check("CreateChatCompletionStreamResponse", obj)


def assert_error(obj: Any) -> Any:
    return _check("ErrorResponse", obj)


def assert_model_list(obj: Any) -> Any:
    return _check("ListModelsResponse", obj)


def assert_model(obj: Any) -> Any:
    return _check("Model", obj)


def assert_request(obj: Any) -> Any:
    return _check("CreateChatCompletionRequest", obj)
