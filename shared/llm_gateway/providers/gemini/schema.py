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
