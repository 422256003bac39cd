"""Schemas of the OpenAI Responses API routes for the OpenAPI document only (never used to decode)."""

from __future__ import annotations

from typing import Any, Literal

import msgspec


class ResponsesRequest(msgspec.Struct):
    """A Responses create request; fields not listed here pass through to native deployments."""

    model: str
    input: str | list[dict[str, Any]] | None = None
    instructions: str | None = None
    previous_response_id: str | None = None
    store: bool | None = None
    stream: bool | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    text: dict[str, Any] | None = None
    reasoning: dict[str, Any] | None = None
    max_output_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    metadata: dict[str, str] | None = None
    user: str | None = None
    background: bool | None = None


class ResponsesUsage(msgspec.Struct):
    input_tokens: int
    output_tokens: int
    total_tokens: int
    input_tokens_details: dict[str, Any] | None = None
    output_tokens_details: dict[str, Any] | None = None


class ResponseObject(msgspec.Struct):
    """A Responses object: the native upstream's bytes, or the translation of a chat answer."""

    id: str
    object: Literal["response"]
    created_at: int
    status: str
    model: str
    output: list[dict[str, Any]]
    usage: ResponsesUsage | None = None
    error: dict[str, Any] | None = None
    incomplete_details: dict[str, Any] | None = None
    previous_response_id: str | None = None


class ResponseEvent(msgspec.Struct):
    """One streaming event; `type` names it (response.created … response.completed, response.failed, error)."""

    type: str
    sequence_number: int
    response: ResponseObject | None = None


class InputItemList(msgspec.Struct):
    """A cursor page of a stored response's input items."""

    object: Literal["list"]
    data: list[dict[str, Any]]
    first_id: str | None
    last_id: str | None
    has_more: bool


class ResponseDeleted(msgspec.Struct):
    id: str
    object: Literal["response"]
    deleted: bool


class InputTokens(msgspec.Struct):
    object: str
    input_tokens: int
