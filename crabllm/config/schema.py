"""The crabllm.toml schema: frozen msgspec types that forbid unknown fields."""

from __future__ import annotations

from typing import Any

import msgspec

DEFAULT_LISTEN = "127.0.0.1:5632"
DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024


class _Strict(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    """Base for config tables: immutable, and a typo is an error."""


class Pricing(_Strict):
    prompt_cost_per_million: float
    completion_cost_per_million: float


class ModelInfo(_Strict):
    context_length: int | None = None
    vision: bool | None = None
    pricing: Pricing | None = None


class RateLimit(_Strict):
    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None


class KeyConfig(_Strict):
    name: str
    key: str | None = None
    key_sha256: str | None = None
    models: list[str] = msgspec.field(default_factory=lambda: ["*"])
    rate_limit: RateLimit | None = None
    budget: float | None = None


class ProviderConfig(_Strict):
    kind: str = "openai"
    api_key: str | None = None
    base_url: str | None = None
    models: list[str] = msgspec.field(default_factory=list)
    weight: int = 1
    max_retries: int = 2
    api_version: str | None = None
    timeout: float = 30.0
    region: str | None = None
    access_key: str | None = None
    secret_key: str | None = None
    session_token: str | None = None
    # Only for kind = "mock": what the built-in upstream answers and how fast.
    mock_reply: str | None = None
    mock_chunks: int = 8
    mock_chunk_delay_ms: float = 0.0
    mock_latency_ms: float = 0.0
    mock_dimensions: int = 8


class StorageConfig(_Strict):
    kind: str = "memory"
    path: str | None = None


class LimitsConfig(_Strict):
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_json_depth: int = 64


class Config(_Strict):
    listen: str = DEFAULT_LISTEN
    providers: dict[str, ProviderConfig] = msgspec.field(default_factory=dict)
    keys: list[KeyConfig] = msgspec.field(default_factory=list)
    aliases: dict[str, str] = msgspec.field(default_factory=dict)
    models: dict[str, ModelInfo] = msgspec.field(default_factory=dict)
    cloud_models: str | None = None
    extensions: dict[str, Any] = msgspec.field(default_factory=dict)
    storage: StorageConfig = msgspec.field(default_factory=StorageConfig)
    limits: LimitsConfig = msgspec.field(default_factory=LimitsConfig)
    admin_token: str | None = None
    shutdown_timeout: float = 30.0
    openapi: bool = True
    metrics_public: bool = False
