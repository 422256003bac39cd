"""Reduce a JSON schema to the OpenAPI subset Gemini's function declarations accept."""

from __future__ import annotations

from typing import Any

from crabllm.translate.schema import inline_refs

# Gemini's Schema object fields (minus title/default, which older model versions reject).
_KEEP = frozenset({
    "type", "format", "description", "nullable", "enum", "items", "properties", "required",
    "minItems", "maxItems", "minProperties", "maxProperties", "minLength", "maxLength",
    "pattern", "minimum", "maximum", "anyOf", "propertyOrdering", "example",
})
_STRING_FORMATS = frozenset({"enum", "date-time"})


def gemini_schema(schema: Any) -> dict[str, Any]:
    """A Gemini-compatible copy of a JSON schema: refs inlined, unsupported keywords dropped."""
    inlined = inline_refs(schema, on_cycle={"type": "object"})
    return _clean(inlined)


def _clean(node: Any) -> dict[str, Any]:
    if not isinstance(node, dict):
        return {}
    node = _normalise(node)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key not in _KEEP:
            continue
        if key == "properties" and isinstance(value, dict):
            if value:
                out[key] = {name: _clean(sub) for name, sub in value.items()}
        elif key == "items":
            out[key] = _clean(value[0] if isinstance(value, list) and value else value)
        elif key == "anyOf" and isinstance(value, list):
            out[key] = [_clean(v) for v in value]
        elif key == "format":
            if node.get("type") != "string" or value in _STRING_FORMATS:
                out[key] = value
        else:
            out[key] = value
    return out


def _normalise(node: dict[str, Any]) -> dict[str, Any]:
    """Rewrite the constructs Gemini spells differently: const, type lists, null unions, allOf."""
    node = dict(node)
    if "const" in node and "enum" not in node:
        node["enum"] = [node.pop("const")]
    kind = node.get("type")
    if isinstance(kind, list):
        kinds = [k for k in kind if k != "null"]
        if len(kinds) < len(kind):
            node["nullable"] = True
        if len(kinds) == 1:
            node["type"] = kinds[0]
        else:
            node.pop("type")
            if kinds:
                node["anyOf"] = [{"type": k} for k in kinds]
    for key in ("anyOf", "oneOf"):
        variants = node.pop(key, None)
        if isinstance(variants, list):
            _merge_union(node, variants)
    all_of = node.pop("allOf", None)
    if isinstance(all_of, list):
        for part in all_of:
            if isinstance(part, dict):
                for k, v in _normalise(part).items():
                    node.setdefault(k, v)
    return node


def _merge_union(node: dict[str, Any], variants: list[Any]) -> None:
    rest = [v for v in variants if not (isinstance(v, dict) and v.get("type") == "null")]
    if len(rest) < len(variants):
        node["nullable"] = True
    if len(rest) == 1 and isinstance(rest[0], dict):
        for k, v in _normalise(rest[0]).items():
            node.setdefault(k, v)
    elif rest:
        node["anyOf"] = node.get("anyOf", []) + rest
