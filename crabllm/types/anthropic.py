"""Light msgspec views of the Anthropic Messages request, used to validate inbound dicts."""

from __future__ import annotations

from typing import Any

import msgspec


class AnthropicMessageView(msgspec.Struct):
    role: str
    content: str | list[dict[str, Any]]


class AnthropicToolView(msgspec.Struct):
    name: str
    description: str | None = None
    input_schema: dict[str, Any] | None = None
    type: str | None = None


class MessagesRequestView(msgspec.Struct):
    model: str
    max_tokens: int
    messages: list[AnthropicMessageView]
    system: str | list[dict[str, Any]] | None = None
    stop_sequences: list[str] | None = None
    tools: list[AnthropicToolView] | None = None
    tool_choice: dict[str, Any] | None = None
    stream: bool = False
    temperature: float | None = None
    top_p: float | None = None
