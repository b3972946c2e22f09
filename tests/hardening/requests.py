"""Hypothesis strategies for chat requests: valid ones generated from OpenAI's published request schema
(normalised so hypothesis-jsonschema can use it), and hostile mutations of them as raw bodies."""

from __future__ import annotations

import functools
import json
from typing import Any

import orjson
from hypothesis import strategies as st

from tests.support.openai_schema import SCHEMA_PATH

_DROP_KEYS = {"description", "example", "examples", "title", "deprecated", "default", "discriminator", "format"}
_MAX_ITEMS = 3


def _resolve(node: Any, defs: dict[str, Any], depth: int) -> Any:
    """Inline ``$ref``s (cut at ``depth`` to bound recursive schemas), drop annotations, turn ``oneOf`` into
    ``anyOf`` (exclusivity is costly to generate and the gateway does not rely on it), cap array sizes."""
    if isinstance(node, list):
        return [_resolve(item, defs, depth) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        if depth <= 0:
            return {"type": "object", "maxProperties": 0}
        target = defs[node["$ref"].rsplit("/", 1)[-1]]
        merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return _resolve(merged, defs, depth - 1)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROP_KEYS or key.startswith("x-"):
            continue
        if key == "oneOf":
            out.setdefault("anyOf", []).extend(_resolve(value, defs, depth))
        elif key in ("properties", "patternProperties", "$defs"):
            out[key] = {name: _resolve(sub, defs, depth) for name, sub in value.items()}
        else:
            out[key] = _resolve(value, defs, depth)
    if out.get("type") == "array" or "items" in out:
        out["maxItems"] = min(out.get("maxItems", _MAX_ITEMS), _MAX_ITEMS)
    if out.get("type") == "object" and "additionalProperties" not in out and "properties" in out:
        out["additionalProperties"] = False  # extra fields are a separate mutation
    if out.get("type") == "string" and "pattern" not in out and "enum" not in out:
        out["maxLength"] = min(out.get("maxLength", 40), 40)
    return out


@functools.cache
def request_schema(models: tuple[str, ...] = ("mock",)) -> dict[str, Any]:
    """CreateChatCompletionRequest, self-contained, with ``model`` limited to configured names."""
    document = json.loads(SCHEMA_PATH.read_text())
    schema: dict[str, Any] = _resolve({"$ref": "#/$defs/CreateChatCompletionRequest"}, document["$defs"], depth=6)
    # allOf of [CreateModelResponseProperties, the request object]: flatten into one object schema.
    properties: dict[str, Any] = {}
    required: list[str] = []
    for part in schema.pop("allOf", []):
        properties.update(part.get("properties", {}))
        required += part.get("required", [])
    properties["model"] = {"enum": list(models)}
    # Fields the published schema allows but that make the generated request pointless to fuzz with
    # (audio output, web search, predicted outputs) are kept; only ones with huge alternatives are trimmed.
    properties["messages"]["maxItems"] = 4
    return {
        "type": "object",
        "properties": properties,
        "required": sorted(set(required)),
        "additionalProperties": False,
    }


def valid_requests(models: tuple[str, ...] = ("mock",)) -> st.SearchStrategy[dict[str, Any]]:
    from hypothesis_jsonschema import from_schema

    return from_schema(request_schema(models))


def seed_pool(size: int, models: tuple[str, ...] = ("mock",)) -> list[dict[str, Any]]:
    """``size`` distinct schema-valid requests. Generating from the full OpenAI schema costs ~0.1 s a
    request, so the fuzzers draw from this pool and mutate (cheap) instead of generating every case."""
    from hypothesis import HealthCheck, given, settings

    pool: dict[str, dict[str, Any]] = {}

    @settings(max_examples=size, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(valid_requests(models))
    def collect(request: dict[str, Any]) -> None:
        pool.setdefault(encode(request).decode(errors="replace"), request)

    collect()
    return list(pool.values())


# --- mutations ---------------------------------------------------------------------------------------

EXTREME_NUMBERS: list[Any] = [
    0,
    -1,
    -(2**31),
    2**31,
    2**53 + 1,
    2**63 - 1,
    2**63,
    -(2**63) - 1,
    1e308,
    -1e308,
    5e-324,
    0.5,
    -0.0,
    1e-9,
]
ODD_STRINGS: list[str] = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\u202e\u200b\ufeff",
    "\U0001f600" * 50,
    "\U0001d518\U0001d52b\U0001d526",
    "\\",
    '"',
    "</script>",
    "{{7*7}}",
    "%s%n",
    "\r\n\r\ndata: [DONE]\n\n",
    "x" * 100_000,
]
# JSON text that Python cannot hold as UTF-8: lone surrogates, escaped and raw (the raw bytes are invalid
# UTF-8), plus other encodings and control characters.
HOSTILE_LITERALS: list[bytes] = [
    b'"\\ud800"',
    b'"\\udfff"',
    b'"a\\ud83db"',
    b'"\\ud83d\\ude00"',
    b'"\xed\xa0\x80"',
    b'"\xff\xfe"',
    b'"\\u0000"',
    b'"\x01\x1f"',
    b"NaN",
    b"Infinity",
    b"-Infinity",
    b"1e999",
    b"-1e999",
    b"123456789012345678901234567890",
    b"0x10",
    b"01",
    b"1.",
    b"true",
    b"null",
    b"[]",
    b"{}",
]
NON_OBJECT_BODIES: list[bytes] = [
    b"",
    b" ",
    b"null",
    b"true",
    b"0",
    b"-1",
    b'"a string"',
    b"[]",
    b"[{}]",
    b'[{"model":"mock"}]',
    b"{",
    b"}",
    b'{"model":',
    b'{"model": "mock", }',
    b"\xef\xbb\xbf{}",
    b"\x00",
    b"\xff\xfe{\x00}\x00",
    b"{'model': 'mock'}",
    b"<xml/>",
    b'{"model": "mock"}{"model": "mock"}',
]


def encode(value: Any) -> bytes:
    """JSON text; strings holding lone surrogates come out as ``\\udXXX`` escapes, as a client would send."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(value).encode()


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            out += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            out += _paths(child, (*prefix, index))
    return out


def _set(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {**value, head: _set(value[head], rest, new)}
    copy = list(value)
    copy[head] = _set(copy[head], rest, new)
    return copy


def _delete(value: Any, path: tuple[Any, ...]) -> Any:
    if len(path) == 1:
        if isinstance(value, dict):
            return {k: v for k, v in value.items() if k != path[0]}
        return [v for i, v in enumerate(value) if i != path[0]]
    head = path[0]
    if isinstance(value, dict):
        return {**value, head: _delete(value[head], path[1:])}
    copy = list(value)
    copy[head] = _delete(copy[head], path[1:])
    return copy


_PLACEHOLDER = "\u0000__hostile_literal__\u0000"


def _with_literal(value: Any, path: tuple[Any, ...], literal: bytes) -> bytes:
    """``value`` encoded with the JSON text ``literal`` (maybe not valid JSON) at ``path``."""
    marked = encode(_set(value, path, _PLACEHOLDER))
    return marked.replace(encode(_PLACEHOLDER), literal, 1)


def nested(depth: int, leaf: str = "[]") -> bytes:
    opener, closer = ("[", "]") if leaf == "[]" else ('{"a":', "}")
    return (opener * depth + "1" + closer * depth).encode()


any_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


@st.composite
def mutated_bodies(draw: st.DrawFn, base: st.SearchStrategy[dict[str, Any]]) -> tuple[str, bytes]:
    """``(mutation kind, raw body)``: a valid request broken in one way."""
    request = draw(base)
    paths = _paths(request)
    path = draw(st.sampled_from(paths))
    kind = draw(
        st.sampled_from(
            [
                "wrong_type",
                "extreme_number",
                "odd_string",
                "hostile_literal",
                "missing_field",
                "extra_field",
                "deep_nesting",
                "non_object",
                "valid",
            ]
        )
    )
    if kind == "wrong_type":
        return kind, encode(_set(request, path, draw(any_json)))
    if kind == "extreme_number":
        return kind, encode(_set(request, path, draw(st.sampled_from(EXTREME_NUMBERS))))
    if kind == "odd_string":
        return kind, encode(_set(request, path, draw(st.sampled_from(ODD_STRINGS))))
    if kind == "hostile_literal":
        return kind, _with_literal(request, path, draw(st.sampled_from(HOSTILE_LITERALS)))
    if kind == "missing_field" and path:
        return kind, encode(_delete(request, path))
    if kind == "extra_field":
        containers = [p for p in paths if isinstance(_get(request, p), dict)]
        where = draw(st.sampled_from(containers))
        name = draw(st.sampled_from(["extra", "", "\x00", "model", "__proto__", "x" * 300]))
        target = {**_get(request, where), name: draw(any_json)}
        return kind, encode(_set(request, where, target))
    if kind == "deep_nesting":
        depth = draw(st.sampled_from([65, 200, 1023, 1025, 5000, 50_000]))
        leaf = draw(st.sampled_from(["[]", "{}"]))
        return kind, _with_literal(request, path, nested(depth, leaf))
    if kind == "non_object":
        return kind, draw(st.sampled_from(NON_OBJECT_BODIES))
    return "valid", encode(request)


def _get(value: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        value = value[part]
    return value
