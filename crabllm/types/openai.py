"""Small msgspec views of OpenAI wire bodies: only what routing and accounting need to read."""

from __future__ import annotations

import msgspec


class StreamOptions(msgspec.Struct):
    include_usage: bool | None = None


class ChatView(msgspec.Struct):
    """The few request fields the gateway reads; every other field passes through untouched."""

    model: str
    stream: bool | None = None
    stream_options: StreamOptions | None = None
    messages: list[msgspec.Raw] | None = None  # counted against [limits] max_messages, never decoded


class ModelView(msgspec.Struct):
    model: str


class Usage(msgspec.Struct):
    prompt_tokens: int | None = 0
    completion_tokens: int | None = 0
    total_tokens: int | None = 0


class UsageView(msgspec.Struct):
    usage: Usage | None = None


class ChunkView(msgspec.Struct):
    choices: list[msgspec.Raw] = []
    usage: Usage | None = None


chat_view = msgspec.json.Decoder(ChatView)
model_view = msgspec.json.Decoder(ModelView)
usage_view = msgspec.json.Decoder(UsageView)
chunk_view = msgspec.json.Decoder(ChunkView)
