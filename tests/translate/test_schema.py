"""Schema rewriting: $defs inlining and Gemini cleanup only touch schema positions."""

from __future__ import annotations

from crabllm.translate.gemini_schema import gemini_schema
from crabllm.translate.schema import inline_refs

PYDANTIC_STYLE = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Search",
    "type": "object",
    "additionalProperties": False,
    "$defs": {
        "Filter": {
            "title": "Filter",
            "type": "object",
            "properties": {
                "title": {"title": "Title", "type": "string", "default": "x"},
                "default": {"anyOf": [{"type": "integer"}, {"type": "null"}], "default": None},
                "$ref": {"type": "string", "examples": ["a"]},
            },
            "required": ["title"],
        },
    },
    "properties": {
        "query": {"type": "string", "format": "uri", "$comment": "c"},
        "filter": {"$ref": "#/$defs/Filter", "description": "how to filter"},
        "tags": {"type": ["array", "null"], "items": {"type": "string", "const": "a"}},
        "mode": {"oneOf": [{"type": "string", "enum": ["a", "b"]}, {"type": "null"}]},
        "$defs": {"type": "string", "description": "a parameter literally named $defs"},
    },
    "required": ["query"],
}


def test_inline_refs_keeps_properties_named_like_keywords() -> None:
    out = inline_refs(PYDANTIC_STYLE)
    assert "$defs" not in {k for k in out if k != "properties"}
    assert out["properties"]["$defs"] == {"type": "string", "description": "a parameter literally named $defs"}
    inner = out["properties"]["filter"]
    assert inner["description"] == "how to filter"
    assert set(inner["properties"]) == {"title", "default", "$ref"}
    assert inner["properties"]["$ref"] == {"type": "string", "examples": ["a"]}


def test_inline_refs_leaves_recursive_schemas_alone_unless_asked() -> None:
    recursive = {"$defs": {"Node": {"type": "object", "properties": {"next": {"$ref": "#/$defs/Node"}}}},
                 "$ref": "#/$defs/Node"}
    assert inline_refs(recursive) is recursive
    assert inline_refs(recursive, on_cycle={"type": "object"}) == {
        "type": "object", "properties": {"next": {"type": "object"}}}


def test_inline_refs_ignores_default_values_that_look_like_refs() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "object", "default": {"$ref": "#/$defs/X"}}},
              "$defs": {"X": {"type": "string"}}}
    assert inline_refs(schema)["properties"]["a"]["default"] == {"$ref": "#/$defs/X"}


def test_gemini_schema_strips_keywords_only_at_schema_positions() -> None:
    out = gemini_schema(PYDANTIC_STYLE)
    assert out == {
        "type": "object",
        "properties": {
            "query": {"type": "string"},
            "filter": {
                "type": "object",
                "description": "how to filter",
                "properties": {
                    "title": {"type": "string"},
                    "default": {"type": "integer", "nullable": True},
                    "$ref": {"type": "string"},
                },
                "required": ["title"],
            },
            "tags": {"type": "array", "nullable": True, "items": {"type": "string", "enum": ["a"]}},
            "mode": {"type": "string", "enum": ["a", "b"], "nullable": True},
            "$defs": {"type": "string", "description": "a parameter literally named $defs"},
        },
        "required": ["query"],
    }


def test_gemini_schema_unions_and_formats() -> None:
    out = gemini_schema({"type": "object", "properties": {
        "when": {"type": "string", "format": "date-time"},
        "n": {"type": "integer", "format": "int64"},
        "either": {"anyOf": [{"type": "string"}, {"type": "integer"}, {"type": "null"}]},
        "multi": {"type": ["string", "integer"]},
        "merged": {"allOf": [{"type": "string"}, {"description": "d"}]},
    }})
    props = out["properties"]
    assert props["when"] == {"type": "string", "format": "date-time"}
    assert props["n"] == {"type": "integer", "format": "int64"}
    assert props["either"] == {"nullable": True, "anyOf": [{"type": "string"}, {"type": "integer"}]}
    assert props["multi"] == {"anyOf": [{"type": "string"}, {"type": "integer"}]}
    assert props["merged"] == {"type": "string", "description": "d"}
