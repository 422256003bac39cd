"""GenAI semantic-convention values: operation names by route, provider names by provider kind."""

from __future__ import annotations

#: route -> (gen_ai.operation.name, gen_ai.output.type or None). The spec has no operation for image or
#: speech generation; `generate_content` with the output type is its nearest well-known value.
OPERATIONS: dict[str, tuple[str, str | None]] = {
    "/v1/chat/completions": ("chat", None),
    "/v1/messages": ("chat", None),
    "/v1/messages/count_tokens": ("count_tokens", None),
    "/v1/responses": ("chat", None),
    "/v1/responses/input_tokens": ("count_tokens", None),
    "/v1/embeddings": ("embeddings", None),
    "/v1/completions": ("text_completion", None),
    "/v1/images/generations": ("generate_content", "image"),
    "/v1/audio/speech": ("generate_content", "speech"),
    "/v1/audio/transcriptions": ("generate_content", "text"),
}

#: crabllm provider kind -> gen_ai.provider.name (the spec's well-known values; others pass as the kind).
PROVIDER_NAMES: dict[str, str] = {
    "openai": "openai",
    "azure": "azure.ai.openai",
    "anthropic": "anthropic",
    "google": "gcp.gemini",
    "bedrock": "aws.bedrock",
}


def operation(path: str) -> tuple[str, str | None]:
    return OPERATIONS.get(path, ("chat", None))


def provider_name(kind: str) -> str:
    return PROVIDER_NAMES.get(kind, kind)
