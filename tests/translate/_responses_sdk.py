"""Test helpers: run Responses events through the official SDK (validation and its stream accumulator)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from openai import omit
from openai._models import construct_type
from openai.lib.streaming.responses._responses import ResponseStreamState
from openai.types.responses import ParsedResponse, ResponseStreamEvent
from pydantic import TypeAdapter

from crabllm.translate.responses_stream import ChatStreamToResponses


@lru_cache(maxsize=1)
def _adapter() -> TypeAdapter[Any]:
    return TypeAdapter(ResponseStreamEvent)


def sdk_accumulate(events: list[dict[str, Any]]) -> ParsedResponse[Any] | None:
    """Validate every event with the SDK's models, feed them to its ResponseStreamState; the completed response."""
    state = ResponseStreamState(input_tools=omit, text_format=omit)
    for number, event in enumerate(events):
        assert event["sequence_number"] == number
        _adapter().validate_python(event)  # strict: a missing required field fails here
        state.handle_event(construct_type(type_=ResponseStreamEvent, value=event))
    return state._completed_response


def text_chunks(*deltas: dict[str, Any], finish: str | None = "stop", usage: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Chat chunks: one per delta, the last with `finish`, then a usage-only chunk."""
    chunks = [{"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "up",
               "choices": [{"index": 0, "delta": d, "finish_reason": None}]} for d in deltas]
    if chunks and finish is not None:
        chunks[-1]["choices"][0]["finish_reason"] = finish
    chunks.append({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "up", "choices": [],
                   "usage": usage or {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}})
    return chunks


def run(req: dict[str, Any], chunks: list[dict[str, Any]]) -> tuple[ChatStreamToResponses, list[dict[str, Any]]]:
    stream = ChatStreamToResponses(req, response_id="resp_s", created_at=1700000000, model="alias")
    events = stream.start()
    for chunk in chunks:
        events += stream.feed(chunk)
    events += stream.finish()
    return stream, events
