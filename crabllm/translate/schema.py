"""JSON-schema rewriting that only touches keywords at schema positions ($defs inlining, Gemini subset)."""

from __future__ import annotations

from typing import Any, Callable

from crabllm.errors import InvalidRequest

# Keywords whose value is a subschema, a list of subschemas, or a name → subschema map. Any
# other keyword's value is data (enum, const, default, examples…) and is never rewritten, and
# the keys of a `properties` map are parameter names, never keywords.
_ONE = ("items", "additionalProperties", "not", "if", "then", "else", "contains", "propertyNames",
        "unevaluatedItems", "unevaluatedProperties", "additionalItems", "contentSchema")
_MANY = ("anyOf", "oneOf", "allOf", "prefixItems")
_MAP = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")

Schema = dict[str, Any]

# Each inlining copies its definition, so defs that each use the next one twice double the
# output per level: a 2 KB schema would otherwise take minutes and gigabytes. The budget counts
# the schema objects copied out of $defs; real schemas stay far below it.
MAX_INLINED = 20_000


def map_subschemas(schema: Schema, fn: Callable[[Any], Any]) -> Schema:
    """A copy of `schema` with `fn` applied to each direct subschema (data keywords untouched)."""
    out: Schema = {}
    for key, value in schema.items():
        if key in _ONE or (key == "items" and isinstance(value, list)):
            out[key] = [fn(v) for v in value] if isinstance(value, list) else fn(value)
        elif key in _MANY and isinstance(value, list):
            out[key] = [fn(v) for v in value]
        elif key in _MAP and isinstance(value, dict):
            out[key] = {name: fn(v) for name, v in value.items()}
        else:
            out[key] = value
    return out


class _Cycle(Exception):
    pass


class _Budget:
    __slots__ = ("left",)

    def __init__(self) -> None:
        self.left = MAX_INLINED


def inline_refs(schema: Any, *, on_cycle: Schema | None = None) -> Any:
    """`schema` with local `#/$defs/…` and `#/definitions/…` refs inlined and the root defs removed.

    A recursive ref is replaced by `on_cycle` when given; otherwise the schema is returned
    unchanged (the target then gets the refs, which JSON-schema consumers understand). A schema
    whose refs copy more than MAX_INLINED schema objects out of the defs is an InvalidRequest.
    """
    if not isinstance(schema, dict):
        return schema
    defs: Schema = {}
    for key in ("definitions", "$defs"):
        if isinstance(schema.get(key), dict):
            defs.update(schema[key])
    if not defs and not _has_ref(schema):
        return schema
    root = {k: v for k, v in schema.items() if k not in ("$defs", "definitions")}
    try:
        return _inline(root, defs, (), on_cycle, _Budget())
    except _Cycle:
        return schema


def _inline(node: Any, defs: Schema, stack: tuple[str, ...], on_cycle: Schema | None, budget: _Budget) -> Any:
    if not isinstance(node, dict):
        return node
    if stack:
        budget.left -= 1
        if budget.left < 0:
            raise InvalidRequest(f"a tool or response schema copies more than {MAX_INLINED} objects out of its $defs "
                                 "when its $refs are inlined; flatten it or reference fewer definitions")
    ref = node.get("$ref")
    if isinstance(ref, str):
        name = _local_def(ref)
        if name is not None and name in defs:
            if name in stack:
                if on_cycle is None:
                    raise _Cycle
                return dict(on_cycle)
            target = _inline(defs[name], defs, stack + (name,), on_cycle, budget)
            siblings = {k: v for k, v in node.items() if k != "$ref"}
            if not siblings:
                return target
            merged = dict(target) if isinstance(target, dict) else {}
            merged.update(map_subschemas(siblings, lambda s: _inline(s, defs, stack, on_cycle, budget)))
            return merged
    return map_subschemas(node, lambda s: _inline(s, defs, stack, on_cycle, budget))


def _local_def(ref: str) -> str | None:
    for prefix in ("#/$defs/", "#/definitions/"):
        if ref.startswith(prefix):
            return ref[len(prefix):].replace("~1", "/").replace("~0", "~")
    return None


def _has_ref(node: Any) -> bool:
    if not isinstance(node, dict):
        return False
    if isinstance(node.get("$ref"), str):
        return True
    found = False

    def visit(sub: Any) -> Any:
        nonlocal found
        found = found or _has_ref(sub)
        return sub

    map_subschemas(node, visit)
    return found
