"""Small msgspec views of OpenAI Responses API bodies: what routing, storage and accounting read."""

from __future__ import annotations

import msgspec

# Views only: every field the gateway does not read is ignored here and kept in the raw bytes,
# so a pass-through body is never re-encoded.


class ResponsesView(msgspec.Struct):
    """The request fields the /v1/responses route reads before choosing a deployment."""

    model: str
    stream: bool | None = None
    previous_response_id: str | None = None
    store: bool | None = None
    background: bool | None = None


class ResponsesUsage(msgspec.Struct):
    input_tokens: int | None = 0
    output_tokens: int | None = 0
    total_tokens: int | None = None


class _Usage(msgspec.Struct):
    usage: ResponsesUsage | None = None


class ResponsesUsageView(msgspec.Struct):
    """Usage of a Responses object (`usage` at the top) or of a lifecycle event (`response.usage`)."""

    usage: ResponsesUsage | None = None
    response: _Usage | None = None

    def tokens(self) -> tuple[int, int] | None:
        """(input, output) tokens, or None when the body carries no usage."""
        usage = self.usage or (self.response.usage if self.response is not None else None)
        if usage is None:
            return None
        return usage.input_tokens or 0, usage.output_tokens or 0


responses_view = msgspec.json.Decoder(ResponsesView)
responses_usage_view = msgspec.json.Decoder(ResponsesUsageView)


def response_usage(data: bytes) -> tuple[int, int] | None:
    """(input, output) tokens of a Responses object or a `response.completed` event's data.

    None when the JSON has no usage or is not a JSON object — accounting must never fail a
    response it is only observing.
    """
    try:
        return responses_usage_view.decode(data).tokens()
    except msgspec.DecodeError:
        return None
