"""Fuzz: any JSON a client sends makes the request translators return, or raise a 4xx CrabError — nothing else."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crabllm.errors import CrabError
from crabllm.translate.anthropic_in import anthropic_request_to_openai
from crabllm.translate.anthropic_out import openai_to_anthropic_request
from crabllm.translate.bedrock import openai_to_converse_request
from crabllm.translate.gemini import openai_to_gemini_request

# Keys the translators look for, so generated objects reach deep branches rather than
# failing the first shape check.
KEYS = [
    "messages", "role", "content", "tools", "tool_choice", "type", "text", "image_url", "url", "max_tokens",
    "max_completion_tokens", "system", "stop", "stop_sequences", "model", "stream", "name", "function",
    "arguments", "parameters", "description", "tool_calls", "tool_call_id", "id", "input_schema", "source",
    "media_type", "data", "tool_use_id", "input", "is_error", "cache_control", "thinking", "budget_tokens",
    "reasoning_effort", "response_format", "json_schema", "schema", "strict", "file", "file_data", "filename",
    "temperature", "top_p", "top_k", "user", "metadata", "user_id", "disable_parallel_tool_use", "signature",
    "thinking_blocks", "reasoning_signature", "refusal", "input_audio", "format", "$ref", "$defs", "properties",
    "items", "anyOf", "required", "enum", "title", "_crabllm", "anthropic", "n", "seed", "response_mime_type",
]
VALUES = ["user", "assistant", "system", "developer", "tool", "function", "text", "image_url", "image", "tool_use",
          "tool_result", "thinking", "redacted_thinking", "document", "file", "auto", "any", "none", "required",
          "tool", "json_object", "json_schema", "base64", "url", "data:image/png;base64,AAAA",
          "data:application/pdf;base64,AAAA", "https://example.com/a.png", "object", "string", "#/$defs/a", "low",
          "high", "application/pdf", "image/png", "{}", '{"a": 1}', "null", ""]

key = st.one_of(st.sampled_from(KEYS), st.text(max_size=6))
scalar = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=True),
                   st.sampled_from(VALUES), st.text(max_size=12))
json_value = st.recursive(scalar, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(key, inner, max_size=6),
                          max_leaves=24)
json_object = st.dictionaries(key, json_value, max_size=8)
# Field values inside the structured strategies stay small: generation dominates the run time.
small = st.recursive(scalar, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(key, inner, max_size=4),
                     max_leaves=8)
small_object = st.dictionaries(key, small, max_size=5)
part = st.fixed_dictionaries({"type": st.sampled_from(VALUES)}, optional={k: small for k in KEYS[:30] if k != "type"})
message = st.fixed_dictionaries(
    {"role": st.sampled_from(VALUES[:6]) | st.text(max_size=4)},
    optional={"content": st.one_of(st.text(max_size=8), st.lists(part | small, max_size=3), small),
              "tool_calls": st.lists(small_object | st.fixed_dictionaries({"function": small_object}), max_size=2),
              "tool_call_id": small, "name": small, "thinking_blocks": small, "reasoning_signature": small,
              "reasoning_content": small})
SCHEMA_KEYS = ["type", "properties", "items", "anyOf", "oneOf", "allOf", "$ref", "$defs", "definitions", "enum",
               "const", "format", "nullable", "required", "additionalProperties", "prefixItems", "not", "title"]
schema = st.recursive(
    st.one_of(scalar, st.sampled_from(["#/$defs/a", "#/$defs/b", "#/definitions/a", "string", "null", "object"]),
              st.lists(st.sampled_from(["string", "null", "object", "integer"]), max_size=3)),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(SCHEMA_KEYS) | st.sampled_from("ab"),
                                                                inner, max_size=5),
    max_leaves=16)
function = st.fixed_dictionaries({}, optional={"name": st.text(max_size=5) | small, "description": small,
                                               "parameters": schema})
tool = st.one_of(st.fixed_dictionaries({"type": st.sampled_from(["function", "other"]) | small, "function": function}),
                 st.fixed_dictionaries({"function": function | small}), small_object)
tool_choice = st.one_of(st.sampled_from(["auto", "required", "none", "any"]), small,
                        st.fixed_dictionaries({"type": small, "function": small | function}))
response_format = st.one_of(small, st.fixed_dictionaries(
    {"type": st.sampled_from(["json_object", "json_schema", "text"]) | small,
     "json_schema": small | st.fixed_dictionaries({"name": small, "schema": schema})}))
# Close to a valid OpenAI chat request, with every field possibly of the wrong shape.
chat_like = st.fixed_dictionaries(
    {"messages": st.lists(message, max_size=4)},
    optional={"tools": st.lists(tool, max_size=3) | small, "tool_choice": tool_choice,
              "response_format": response_format,
              **{k: small for k in ("model", "max_tokens", "max_completion_tokens", "stop", "reasoning_effort",
                                         "temperature", "top_p", "stream", "user", "_crabllm", "thinking",
                                         "parallel_tool_calls")}})
# Close to a valid Anthropic Messages request.
anthropic_like = st.fixed_dictionaries(
    {"model": st.text(max_size=6), "max_tokens": st.integers(-5, 10_000),
     "messages": st.lists(st.fixed_dictionaries({"role": st.sampled_from(["user", "assistant"]) | st.text(max_size=3),
                                                 "content": st.text(max_size=8) | st.lists(part | small_object, max_size=4)}),
                          max_size=4)},
    optional={k: small for k in ("system", "stop_sequences", "tools", "tool_choice", "stream", "temperature",
                                      "top_p", "metadata", "thinking", "top_k")})

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

TRANSLATORS: dict[str, Callable[[Any], Any]] = {
    "openai_to_anthropic": lambda req: openai_to_anthropic_request(req, "claude-x"),
    "openai_to_gemini": openai_to_gemini_request,
    "openai_to_converse": openai_to_converse_request,
    "anthropic_to_openai": anthropic_request_to_openai,
}


def returns_or_4xx(translate: Callable[[Any], Any], req: Any) -> None:
    try:
        out = translate(req)
    except CrabError as e:
        assert e.status < 500, (type(e).__name__, e.message)
    else:
        assert isinstance(out, dict)


@pytest.mark.parametrize("name", list(TRANSLATORS))
@FUZZ
@given(req=json_value)
def test_any_json_value(name: str, req: Any) -> None:
    returns_or_4xx(TRANSLATORS[name], req)


@settings(FUZZ, max_examples=300)
@given(req=chat_like)
def test_chat_shaped_objects(req: dict[str, Any]) -> None:
    for name in ("openai_to_anthropic", "openai_to_gemini", "openai_to_converse"):  # one draw, three translators
        returns_or_4xx(TRANSLATORS[name], req)


@FUZZ
@given(req=anthropic_like)
def test_messages_shaped_objects(req: dict[str, Any]) -> None:
    returns_or_4xx(anthropic_request_to_openai, req)


# --- what the fuzzer found, pinned ---------------------------------------------------------------


def chat(**fields: Any) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": "hi"}], **fields}


def nested(depth: int) -> Any:
    value: Any = {"type": "string"}
    for _ in range(depth):
        value = {"type": "object", "properties": {"x": value}}
    return value


@pytest.mark.parametrize("req", [
    chat(tools=1),  # bedrock iterated a non-list `tools`
    chat(tools=[{"type": "function", "function": {"name": "f"}}], tool_choice={"function": []}),  # .get on a list
    chat(tools=[{"type": "function", "function": {"name": "f"}}], tool_choice={"type": "function", "function": "f"}),
], ids=["tools-not-a-list", "tool-choice-function-list", "tool-choice-function-str"])
@pytest.mark.parametrize("name", ["openai_to_anthropic", "openai_to_gemini", "openai_to_converse"])
def test_wrong_shapes_found_by_fuzzing(name: str, req: dict[str, Any]) -> None:
    returns_or_4xx(TRANSLATORS[name], req)


@pytest.mark.parametrize("name", list(TRANSLATORS))
def test_nesting_that_json_allows_is_a_400_not_a_recursion_error(name: str) -> None:
    # ~800 JSON levels: msgspec decodes it, but the schema walkers use several frames per level.
    schema = nested(400)
    req = chat(tools=[{"type": "function", "function": {"name": "f", "parameters": schema}}],
               response_format={"type": "json_schema", "json_schema": {"name": "s", "schema": schema}})
    if name == "anthropic_to_openai":
        req = {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": [{"type": "text", "text": schema}]}],
               "system": [{"type": "text", "text": "s", "cache_control": schema}]}
    returns_or_4xx(TRANSLATORS[name], req)


@pytest.mark.parametrize("name", ["openai_to_anthropic", "openai_to_gemini", "openai_to_converse"])
def test_ref_inlining_is_bounded(name: str) -> None:
    """Defs that each use the next twice doubled the output per level: 2 KB in, minutes and gigabytes out."""
    defs = {f"d{i}": {"type": "object", "properties": {"a": {"$ref": f"#/$defs/d{i + 1}"}, "b": {"$ref": f"#/$defs/d{i + 1}"}}}
            for i in range(40)}
    defs["d40"] = {"type": "string"}
    req = chat(tools=[{"type": "function", "function": {"name": "f", "parameters": {"$defs": defs, "$ref": "#/$defs/d0"}}}])
    with pytest.raises(CrabError) as e:
        TRANSLATORS[name](req)
    assert e.value.status == 400 and "$defs" in e.value.message
    small_defs = {k: v for k, v in defs.items() if int(k[1:]) >= 30}  # 2^10 copies: still inlined
    req["tools"][0]["function"]["parameters"] = {"$defs": small_defs, "$ref": "#/$defs/d30"}
    assert "$ref" not in str(TRANSLATORS[name](req))
