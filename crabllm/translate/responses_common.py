"""Shared pieces of the Responses ⇄ chat translation: ids and the reasoning round-trip token."""

from __future__ import annotations

import base64
import binascii
from typing import Any

import msgspec

from crabllm.translate.common import new_id

# Anthropic and Bedrock refuse a replayed thinking block without its signature, and the
# Responses API has no signature field. The reasoning item's `encrypted_content` is the slot
# OpenAI itself uses to carry opaque reasoning state between turns, so the signature (and the
# exact thinking blocks, redacted ones included) travel there, under a prefix that tells our
# own token apart from a real OpenAI one (which is never decodable by us and is ignored).
_STATE_PREFIX = "crabllm.r1."


#: A namespace tool's members become chat functions named `<namespace>__<member>` (chat has no namespaces).
NAMESPACE_SEP = "__"


def namespaced(namespace: Any, name: str) -> str:
    """The chat function name of a (possibly namespaced) Responses function."""
    return f"{namespace}{NAMESPACE_SEP}{name}" if isinstance(namespace, str) and namespace else name


def namespaces_of(req: dict[str, Any]) -> frozenset[str]:
    """The names of the request's namespace tools."""
    tools = req.get("tools")
    if not isinstance(tools, list):
        return frozenset()
    return frozenset(t["name"] for t in tools if isinstance(t, dict) and t.get("type") == "namespace"
                     and isinstance(t.get("name"), str) and t["name"])


def split_name(name: str, namespaces: frozenset[str]) -> tuple[str | None, str]:
    """(namespace, member) for a chat function name made by `namespaced`; (None, name) otherwise."""
    if namespaces and NAMESPACE_SEP in name:
        head, _, member = name.partition(NAMESPACE_SEP)
        if head in namespaces and member:
            return head, member
    return None, name


def new_response_id() -> str:
    """A fresh Responses object id: `resp_` + 24 hex digits."""
    return new_id("resp_")


def message_item_id() -> str:
    return new_id("msg_")


def function_call_item_id() -> str:
    return new_id("fc_")


def function_output_item_id() -> str:
    return new_id("fco_")


def reasoning_item_id() -> str:
    return new_id("rs_")


def encode_reasoning_state(signature: Any, blocks: Any = None) -> str | None:
    """The `encrypted_content` token for a reasoning signature (and raw thinking blocks), or None."""
    state: dict[str, Any] = {}
    if isinstance(signature, str) and signature:
        state["signature"] = signature
    if isinstance(blocks, list) and blocks:
        state["blocks"] = [b for b in blocks if isinstance(b, dict)]
    if not state:
        return None
    return _STATE_PREFIX + base64.urlsafe_b64encode(msgspec.json.encode(state)).decode()


def decode_reasoning_state(token: Any) -> tuple[str | None, list[dict[str, Any]] | None]:
    """(signature, thinking blocks) from our `encrypted_content` token; (None, None) for anything else."""
    if not isinstance(token, str) or not token.startswith(_STATE_PREFIX):
        return None, None
    try:
        state = msgspec.json.decode(base64.urlsafe_b64decode(token[len(_STATE_PREFIX):]))
    except (binascii.Error, ValueError, msgspec.DecodeError):
        return None, None
    if not isinstance(state, dict):
        return None, None
    signature = state.get("signature") if isinstance(state.get("signature"), str) else None
    blocks = state.get("blocks")
    blocks = [b for b in blocks if isinstance(b, dict)] if isinstance(blocks, list) else None
    return signature, blocks or None
