"""JSON Schema -> the subset Gemini's ``parametersJsonSchema`` / ``responseJsonSchema`` accept.

Gemini takes standard JSON Schema in these fields but only honours some keywords, and rejects a few
shapes outright (a ``$ref`` with siblings). The conversion keeps the meaning where it can and drops the
rest (the gateway logs what it dropped):

- kept: ``$id $defs $ref $anchor type format title description enum items prefixItems minItems maxItems
  minimum maximum anyOf oneOf properties additionalProperties required propertyOrdering``;
- ``const: x`` becomes ``enum: [x]``; draft-07 ``definitions`` become ``$defs`` (refs rewritten);
  a one-element ``allOf`` is inlined; array-form ``items`` (draft-04 tuples) becomes ``prefixItems``;
- a ``$ref`` keeps only its ``$``-keywords (Gemini's rule), e.g. a sibling ``description`` goes;
- everything else (``$schema``, ``default``, ``examples``, ``pattern``, ``minLength``, ``maxLength``,
  ``exclusiveMinimum``, ``uniqueItems``, ``not``, ``if/then/else``, ``patternProperties``, ...) is dropped.
"""

from __future__ import annotations

from typing import Any

_KEEP = frozenset(
    {
        "$id",
        "$defs",
        "$ref",
        "$anchor",
        "type",
        "format",
        "title",
        "description",
        "enum",
        "items",
        "prefixItems",
        "minItems",
        "maxItems",
        "minimum",
        "maximum",
        "anyOf",
        "oneOf",
        "properties",
        "additionalProperties",
        "required",
        "propertyOrdering",
    }
)
_SCHEMA_MAPS = ("properties", "$defs")
_SCHEMA_LISTS = ("anyOf", "oneOf", "prefixItems")
_MAX_DEPTH = 64


def to_gemini_schema(schema: Any) -> tuple[Any, set[str]]:
    """The converted schema and the keywords that were dropped (for the log)."""
    dropped: set[str] = set()
    return _convert(schema, dropped, 0), dropped


def _convert(node: Any, dropped: set[str], depth: int) -> Any:
    if not isinstance(node, dict):
        return node
    if depth > _MAX_DEPTH:
        raise ValueError("the schema is nested too deeply")
    node = _normalise(node)
    if "$ref" in node:
        kept = {k: v for k, v in node.items() if k.startswith("$")}
        dropped.update(k for k in node if not k.startswith("$"))
        node = kept
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key not in _KEEP:
            dropped.add(key)
            continue
        if key in _SCHEMA_MAPS and isinstance(value, dict):
            out[key] = {name: _convert(sub, dropped, depth + 1) for name, sub in value.items()}
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            out[key] = [_convert(sub, dropped, depth + 1) for sub in value]
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            out[key] = _convert(value, dropped, depth + 1)
        elif key == "$ref" and isinstance(value, str):
            out[key] = value.replace("#/definitions/", "#/$defs/")
        else:
            out[key] = value
    return out


def _normalise(node: dict[str, Any]) -> dict[str, Any]:
    node = dict(node)
    if "const" in node and "enum" not in node:
        node["enum"] = [node.pop("const")]
    if "definitions" in node:
        definitions = node.pop("definitions")
        if isinstance(definitions, dict):
            node["$defs"] = {**definitions, **(node.get("$defs") or {})}
    if isinstance(node.get("items"), list):
        node["prefixItems"] = node.pop("items")
    all_of = node.get("allOf")
    if isinstance(all_of, list) and len(all_of) == 1 and isinstance(all_of[0], dict):
        del node["allOf"]
        node = {**all_of[0], **node}
    return node


# --- the older OpenAPI-3.0 "Schema" dialect (``parameters`` / ``responseSchema``) -----------------------

_OPENAPI_KEEP = frozenset(
    {
        "type",
        "format",
        "title",
        "description",
        "nullable",
        "enum",
        "items",
        "minItems",
        "maxItems",
        "properties",
        "required",
        "minProperties",
        "maxProperties",
        "minLength",
        "maxLength",
        "pattern",
        "minimum",
        "maximum",
        "anyOf",
        "propertyOrdering",
        "default",
        "example",
    }
)


def to_openapi_schema(schema: Any) -> tuple[Any, set[str]]:
    """JSON Schema -> Gemini's OpenAPI-3.0 subset, for deployments with ``schema_dialect: openapi``.

    ``$ref`` is inlined from ``$defs`` / ``definitions`` (a recursive schema is refused: this dialect
    cannot express it), ``type: [T, "null"]`` becomes ``type: T`` + ``nullable``, ``oneOf`` becomes
    ``anyOf``, ``const`` becomes ``enum``, type names are upper-cased; other keywords are dropped.
    """
    dropped: set[str] = set()
    root = _normalise(schema) if isinstance(schema, dict) else schema
    defs = root.get("$defs", {}) if isinstance(root, dict) else {}
    return _openapi(root, defs if isinstance(defs, dict) else {}, dropped, 0, ()), dropped


def _openapi(node: Any, defs: dict[str, Any], dropped: set[str], depth: int, seen: tuple[str, ...]) -> Any:
    if not isinstance(node, dict):
        return node
    if depth > _MAX_DEPTH:
        raise ValueError("the schema is nested too deeply")
    node = _normalise(node)
    ref = node.get("$ref")
    if isinstance(ref, str):
        name = ref.rsplit("/", 1)[-1]
        if name in seen or name not in defs:
            raise ValueError(f"the $ref {ref!r} is recursive or unknown, which schema_dialect 'openapi' cannot express")
        return _openapi(defs[name], defs, dropped, depth + 1, (*seen, name))
    if "oneOf" in node and "anyOf" not in node:
        node["anyOf"] = node.pop("oneOf")
    out = _openapi_type(node.get("type"))
    for key, value in node.items():
        if key in ("type", "$defs"):
            continue
        if key not in _OPENAPI_KEEP:
            dropped.add(key)
        elif key == "properties" and isinstance(value, dict):
            out[key] = {name: _openapi(sub, defs, dropped, depth + 1, seen) for name, sub in value.items()}
        elif key == "anyOf" and isinstance(value, list):
            _openapi_any_of([_openapi(sub, defs, dropped, depth + 1, seen) for sub in value], out)
        elif key == "items" and isinstance(value, dict):
            out[key] = _openapi(value, defs, dropped, depth + 1, seen)
        elif key == "enum" and isinstance(value, list):
            out[key] = [str(v) for v in value if v is not None]
            out["type"] = "STRING"  # enums are string-only in this dialect
        else:
            out[key] = value
    return out


def _openapi_type(kind: Any) -> dict[str, Any]:
    if isinstance(kind, str):
        return {"type": kind.upper()}
    if not isinstance(kind, list):
        return {}
    named = [str(t).upper() for t in kind if t != "null"]
    out: dict[str, Any] = {"nullable": True} if len(named) != len(kind) else {}
    if len(named) == 1:
        out["type"] = named[0]
    elif named:
        out["anyOf"] = [{"type": t} for t in named]
    return out


def _openapi_any_of(options: list[Any], out: dict[str, Any]) -> None:
    """``anyOf`` with a ``null`` option becomes ``nullable``; a single remaining option is inlined."""
    real = [o for o in options if not (isinstance(o, dict) and o.get("type") == "NULL")]
    if len(real) != len(options):
        out["nullable"] = True
    if len(real) == 1 and isinstance(real[0], dict):
        out.update({k: v for k, v in real[0].items() if k not in out})
    elif real:
        out["anyOf"] = real
