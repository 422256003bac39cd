"""Light msgspec views of the OpenAI chat shapes, used to validate dicts before translating them."""

from __future__ import annotations

from typing import Any

import msgspec

# The gateway's lingua franca is the OpenAI chat shape held as plain dicts. These views only
# check the parts a translator relies on; unknown fields are ignored by the view and kept in
# the dict, so nothing is lost by validating.

PRIVATE_KEY = "_crabllm"
"""Top-level request key holding gateway-internal values; never sent to an upstream."""

ANTHROPIC_EXTRA = "anthropic"
"""Key under PRIVATE_KEY: raw Anthropic request fields with no OpenAI equivalent (thinking, top_k, …)."""


class FunctionCallView(msgspec.Struct):
    name: str = ""
    arguments: str | dict[str, Any] | None = None


class ToolCallView(msgspec.Struct):
    function: FunctionCallView
    id: str | None = None
    type: str = "function"


class MessageView(msgspec.Struct):
    role: str
    content: Any = None
    tool_calls: list[ToolCallView] | None = None
    tool_call_id: str | None = None
    name: str | None = None


class ChatRequestView(msgspec.Struct):
    messages: list[MessageView]


def strip_private(req: dict[str, Any]) -> dict[str, Any]:
    """The request without gateway-internal keys (a shallow copy when there are any)."""
    if PRIVATE_KEY not in req:
        return req
    return {k: v for k, v in req.items() if k != PRIVATE_KEY}


def anthropic_extra(req: dict[str, Any]) -> dict[str, Any]:
    """Raw Anthropic fields remembered by the /v1/messages translation ({} when none)."""
    private = req.get(PRIVATE_KEY)
    if isinstance(private, dict):
        extra = private.get(ANTHROPIC_EXTRA)
        if isinstance(extra, dict):
            return extra
    return {}
