"""JSON Schema conversion for Gemini and the self-describing tool-call ids."""

from __future__ import annotations

import base64

import pytest

from llm_gateway.providers.gemini.schema import to_gemini_schema
from llm_gateway.providers.gemini.toolids import decode_tool_call_id, new_tool_call_id


def test_pydantic_style_schema_keeps_refs_and_drops_what_gemini_rejects() -> None:
    schema = {
        "$defs": {"Pet": {"properties": {"kind": {"const": "dog", "title": "Kind"}}, "required": ["kind"]}},
        "properties": {
            "pet": {"$ref": "#/$defs/Pet", "description": "The pet", "default": None},
            "pets": {"items": {"$ref": "#/$defs/Pet"}, "type": "array", "uniqueItems": True},
            "point": {"items": [{"type": "number"}, {"type": "number"}], "type": "array"},
            "name": {"allOf": [{"type": "string", "maxLength": 5}], "description": "Name"},
        },
        "patternProperties": {"^x-": {"type": "string"}},
        "type": "object",
    }
    converted, dropped = to_gemini_schema(schema)
    assert converted == {
        "$defs": {"Pet": {"properties": {"kind": {"enum": ["dog"], "title": "Kind"}}, "required": ["kind"]}},
        "properties": {
            "pet": {"$ref": "#/$defs/Pet"},
            "pets": {"items": {"$ref": "#/$defs/Pet"}, "type": "array"},
            "point": {"prefixItems": [{"type": "number"}, {"type": "number"}], "type": "array"},
            "name": {"type": "string", "description": "Name"},
        },
        "type": "object",
    }
    assert dropped == {"description", "default", "uniqueItems", "maxLength", "patternProperties"}


def test_absurd_nesting_is_refused() -> None:
    schema: dict[str, object] = {"type": "string"}
    for _ in range(100):
        schema = {"type": "array", "items": schema}
    with pytest.raises(ValueError, match="nested too deeply"):
        to_gemini_schema(schema)


def test_ids_round_trip_gemini_id_and_signature() -> None:
    signature = base64.b64encode(bytes(range(256)) * 2 + b"x").decode()  # has '+', '/' and '=' in it
    tool_id = new_tool_call_id("resp", 1, 2, gemini_id="fc_9-a.b", thought_signature=signature)
    assert "+" not in tool_id and "/" not in tool_id and "=" not in tool_id
    decoded = decode_tool_call_id(tool_id)
    assert decoded.gemini_id == "fc_9-a.b"
    assert decoded.thought_signature == signature
    # an id Gemini made that would clash with the separators is not carried (calls still work by name/order)
    assert decode_tool_call_id(new_tool_call_id("resp", 0, 0, gemini_id="a__ts_b")).gemini_id is None


@pytest.mark.parametrize(
    "foreign", ["call_abc123", "toolu_01A09q90qw90lq917835lq9", "", "call_" + "f" * 24 + "__ts_%%%"]
)
def test_foreign_ids_decode_to_nothing(foreign: str) -> None:
    decoded = decode_tool_call_id(foreign)
    assert decoded.gemini_id is None and decoded.thought_signature is None


def test_ids_without_response_id_are_unique() -> None:
    assert new_tool_call_id(None, 0, 0) != new_tool_call_id(None, 0, 0)


def test_openapi_dialect_refuses_recursive_refs() -> None:
    from llm_gateway.providers.gemini.schema import to_openapi_schema

    tree = {
        "$defs": {
            "Node": {"type": "object", "properties": {"kids": {"type": "array", "items": {"$ref": "#/$defs/Node"}}}}
        }
    }
    with pytest.raises(ValueError, match="recursive"):
        to_openapi_schema({**tree, "$ref": "#/$defs/Node"})
