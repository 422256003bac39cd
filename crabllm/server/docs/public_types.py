"""Documented shapes of the public API (OpenAI and Anthropic routes) for the OpenAPI document."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

# These types only describe the wire for the OpenAPI document: the hot path reads small views
# (crabllm.types.openai) and passes every other byte through. None forbids unknown fields,
# because upstreams add fields and the gateway forwards them untouched.


class ErrorDetail(msgspec.Struct):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorEnvelope(msgspec.Struct):
    """The OpenAI error envelope used by every OpenAI and admin route."""

    error: ErrorDetail


class AnthropicErrorDetail(msgspec.Struct):
    type: str
    message: str


class AnthropicError(msgspec.Struct):
    """The Anthropic error envelope used by /v1/messages."""

    type: Literal["error"]
    error: AnthropicErrorDetail


# ---- chat completions ----------------------------------------------------------------------


class StreamOptions(msgspec.Struct):
    include_usage: bool | None = None


class FunctionCall(msgspec.Struct):
    name: str | None = None
    arguments: str | None = None


class ToolCall(msgspec.Struct):
    function: FunctionCall
    id: str | None = None
    type: str | None = "function"
    index: int | None = None


class ChatMessage(msgspec.Struct):
    role: str
    content: str | list[dict[str, Any]] | None = None
    name: str | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None


class FunctionDefinition(msgspec.Struct):
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class Tool(msgspec.Struct):
    function: FunctionDefinition
    type: str = "function"


class ChatCompletionRequest(msgspec.Struct):
    """OpenAI chat completion request; fields not listed here are forwarded to the upstream."""

    model: str
    messages: list[ChatMessage]
    stream: bool | None = None
    stream_options: StreamOptions | None = None
    tools: list[Tool] | None = None
    tool_choice: str | dict[str, Any] | None = None
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    n: int | None = None
    stop: str | list[str] | None = None
    response_format: dict[str, Any] | None = None
    seed: int | None = None
    user: str | None = None


class Usage(msgspec.Struct):
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None


class ResponseMessage(msgspec.Struct):
    role: str | None = None
    content: str | list[dict[str, Any]] | None = None
    tool_calls: list[ToolCall] | None = None
    refusal: str | None = None


class Choice(msgspec.Struct):
    message: ResponseMessage
    index: int = 0
    finish_reason: str | None = None
    logprobs: dict[str, Any] | None = None


class ChatCompletion(msgspec.Struct):
    """A non-streamed chat completion (the upstream's answer, passed through)."""

    id: str
    object: str
    created: int
    model: str
    choices: list[Choice]
    usage: Usage | None = None
    system_fingerprint: str | None = None


class Delta(msgspec.Struct):
    role: str | None = None
    content: str | None = None
    tool_calls: list[ToolCall] | None = None
    refusal: str | None = None


class ChunkChoice(msgspec.Struct):
    delta: Delta
    index: int = 0
    finish_reason: str | None = None


class ChatCompletionChunk(msgspec.Struct):
    """One `data:` event of a streamed chat completion; the stream ends with `data: [DONE]`."""

    id: str
    object: str
    created: int
    model: str
    choices: list[ChunkChoice]
    usage: Usage | None = None


# ---- embeddings and models -------------------------------------------------------------------


class EmbeddingRequest(msgspec.Struct):
    model: str
    input: Annotated[Any, msgspec.Meta(
        description="a text, a list of texts, a list of token ids, or a list of token-id lists",
        extra_json_schema={"anyOf": [
            {"type": "string"}, {"type": "array", "items": {"type": "string"}},
            {"type": "array", "items": {"type": "integer"}},
            {"type": "array", "items": {"type": "array", "items": {"type": "integer"}}}]})]
    encoding_format: str | None = None
    dimensions: int | None = None
    user: str | None = None


class Embedding(msgspec.Struct):
    index: int
    embedding: list[float] | str
    object: str = "embedding"


class EmbeddingUsage(msgspec.Struct):
    prompt_tokens: int | None = None
    total_tokens: int | None = None


class EmbeddingResponse(msgspec.Struct):
    data: list[Embedding]
    model: str
    object: str = "list"
    usage: EmbeddingUsage | None = None


class ModelPricing(msgspec.Struct):
    prompt_cost_per_million: float
    completion_cost_per_million: float


class Model(msgspec.Struct):
    id: str
    object: str = "model"
    created: int = 0
    owned_by: str = "crabllm"
    alias_for: str | None = None
    context_length: int | None = None
    vision: bool | None = None
    pricing: ModelPricing | None = None


class ModelList(msgspec.Struct):
    """The models the caller's key may use (OpenAI shape)."""

    data: list[Model]
    object: str = "list"


class AnthropicModel(msgspec.Struct):
    id: str
    type: str = "model"
    display_name: str | None = None
    created_at: str | None = None


class AnthropicModelList(msgspec.Struct):
    """The same list in the Anthropic shape (sent when the request carries anthropic-version or x-api-key only)."""

    data: list[AnthropicModel]
    has_more: bool = False
    first_id: str | None = None
    last_id: str | None = None


class Health(msgspec.Struct):
    status: str


class Ready(msgspec.Struct):
    status: str
    generation: int
    models: int


# ---- Anthropic messages ---------------------------------------------------------------------


class AnthropicMessage(msgspec.Struct):
    role: str
    content: str | list[dict[str, Any]]


class AnthropicTool(msgspec.Struct):
    name: str
    description: str | None = None
    input_schema: dict[str, Any] | None = None
    type: str | None = None


class MessagesRequest(msgspec.Struct):
    """Anthropic Messages request; unlisted fields (thinking, top_k, metadata…) are forwarded where possible."""

    model: str
    messages: list[AnthropicMessage]
    max_tokens: int
    system: str | list[dict[str, Any]] | None = None
    tools: list[AnthropicTool] | None = None
    tool_choice: dict[str, Any] | None = None
    stream: bool | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    stop_sequences: list[str] | None = None
    metadata: dict[str, Any] | None = None


class AnthropicUsage(msgspec.Struct):
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_creation_input_tokens: int | None = None
    cache_read_input_tokens: int | None = None


class ContentBlock(msgspec.Struct):
    """A content block: text, tool_use (id, name, input), thinking…"""

    type: str
    text: str | None = None
    id: str | None = None
    name: str | None = None
    input: dict[str, Any] | None = None


class MessagesResponse(msgspec.Struct):
    id: str
    type: str
    role: str
    model: str
    content: list[ContentBlock]
    usage: AnthropicUsage
    stop_reason: str | None = None
    stop_sequence: str | None = None


class AnthropicEvent(msgspec.Struct):
    """The JSON of one /v1/messages stream event; its other fields depend on `type`."""

    type: str


class CountTokensRequest(msgspec.Struct):
    model: str
    messages: list[AnthropicMessage]
    system: str | list[dict[str, Any]] | None = None
    tools: list[AnthropicTool] | None = None


class CountTokensResponse(msgspec.Struct):
    input_tokens: int


# ---- images and audio -----------------------------------------------------------------------


class ImageRequest(msgspec.Struct):
    prompt: str
    model: str
    n: int | None = None
    size: str | None = None
    response_format: Literal["url", "b64_json"] | None = None
    quality: str | None = None
    style: str | None = None
    user: str | None = None


class Image(msgspec.Struct):
    url: str | None = None
    b64_json: str | None = None
    revised_prompt: str | None = None


class ImageResponse(msgspec.Struct):
    created: int
    data: list[Image]


class SpeechRequest(msgspec.Struct):
    """Text to speech; the answer is the audio bytes (audio/mpeg for mp3, audio/wav for wav…)."""

    model: str
    input: str
    voice: str
    response_format: Literal["mp3", "opus", "aac", "flac", "wav", "pcm"] | None = None
    speed: float | None = None
    instructions: str | None = None


class TranscriptionSegment(msgspec.Struct):
    text: str
    id: int | None = None
    start: float | None = None
    end: float | None = None


class Transcription(msgspec.Struct):
    """response_format json (text only) or verbose_json (with language, duration, segments)."""

    text: str
    task: str | None = None
    language: str | None = None
    duration: float | None = None
    segments: list[TranscriptionSegment] | None = None


PUBLIC_TYPES: tuple[type, ...] = (
    ErrorEnvelope, AnthropicError, ChatCompletionRequest, ChatCompletion, ChatCompletionChunk, EmbeddingRequest,
    EmbeddingResponse, ModelList, AnthropicModelList, Health, Ready, MessagesRequest, MessagesResponse,
    CountTokensRequest, CountTokensResponse, ImageRequest, ImageResponse, SpeechRequest, Transcription,
)
