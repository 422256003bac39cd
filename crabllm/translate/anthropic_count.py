"""A local input-token estimate for /v1/messages/count_tokens when no Anthropic deployment can count."""

from __future__ import annotations

import math
from typing import Any

from crabllm.errors import InvalidRequest
from crabllm.translate.common import depth_guarded

#: Roughly what BPE tokenizers average on English text and code.
CHARS_PER_TOKEN = 4
#: Role and separator tokens each message costs on top of its text.
PER_MESSAGE = 4
#: Structural keys whose values are not text the model reads.
_SKIP = frozenset({"type", "cache_control", "signature", "id", "tool_use_id", "media_type", "role"})


@depth_guarded
def estimate_input_tokens(req: Any) -> int:
    """About how many input tokens a Messages request (system, messages, tools) costs; InvalidRequest if malformed."""
    if not isinstance(req, dict) or not isinstance(req.get("messages"), list):
        raise InvalidRequest("request body must be a JSON object with a 'messages' array")
    try:
        chars = sum(_chars(req.get(key)) for key in ("system", "messages", "tools"))
    except RecursionError:
        raise InvalidRequest("request body is nested too deeply to count") from None
    return max(1, math.ceil(chars / CHARS_PER_TOKEN) + PER_MESSAGE * len(req["messages"]))


def _chars(value: Any) -> int:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, list):
        return sum(_chars(v) for v in value)
    if isinstance(value, dict):
        # Image and document payloads are base64: count them as Anthropic roughly bills an image, not by length.
        if value.get("type") in ("base64", "url") and ("data" in value or "url" in value):
            return 1600 * CHARS_PER_TOKEN
        return sum(len(k) + _chars(v) for k, v in value.items() if k not in _SKIP)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return len(str(value))
    return 0
