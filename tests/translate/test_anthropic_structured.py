"""Structured outputs cross the OpenAI/Anthropic translation in both directions; estimates for count_tokens."""

from __future__ import annotations

import pytest

from crabllm.errors import InvalidRequest
from crabllm.translate.anthropic_count import estimate_input_tokens
from crabllm.translate.anthropic_in import anthropic_request_to_openai
from crabllm.translate.anthropic_out import openai_to_anthropic_request

SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
          "additionalProperties": False}


def test_openai_json_schema_becomes_anthropic_output_config() -> None:
    req = {"model": "m", "messages": [{"role": "user", "content": "hi"}],
           "response_format": {"type": "json_schema", "json_schema": {"name": "Answer", "schema": SCHEMA}}}
    assert openai_to_anthropic_request(req, "claude")["output_config"] == {
        "format": {"type": "json_schema", "schema": SCHEMA}}
    # JSON mode has no Anthropic equivalent: nothing is invented.
    plain = openai_to_anthropic_request({**req, "response_format": {"type": "json_object"}}, "claude")
    assert "output_config" not in plain


def test_anthropic_output_config_becomes_openai_response_format() -> None:
    req = {"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}],
           "output_config": {"format": {"type": "json_schema", "schema": SCHEMA}}}
    out = anthropic_request_to_openai(req)
    assert out["response_format"] == {"type": "json_schema",
                                      "json_schema": {"name": "output", "schema": SCHEMA, "strict": True}}
    # An Anthropic upstream reached through translation still gets the client's own field.
    assert out["_crabllm"]["anthropic"]["output_config"] == req["output_config"]
    assert openai_to_anthropic_request(out, "claude")["output_config"] == req["output_config"]


def test_count_tokens_estimate() -> None:
    small = estimate_input_tokens({"messages": [{"role": "user", "content": "hi"}]})
    big = estimate_input_tokens({"system": [{"type": "text", "text": "x" * 4000}],
                                 "messages": [{"role": "user", "content": "hi"}],
                                 "tools": [{"name": "t", "input_schema": {"type": "object"}}]})
    assert 1 <= small < 10 and 1000 < big < 1100
    with pytest.raises(InvalidRequest):
        estimate_input_tokens({"messages": "nope"})


def test_count_tokens_estimate_refuses_absurd_nesting() -> None:
    deep: list = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(InvalidRequest, match="nested too deeply"):
        estimate_input_tokens({"messages": deep})
