"""The crabllm.toml schema: frozen msgspec types that forbid unknown fields."""

from __future__ import annotations

from typing import Literal

import msgspec

from crabllm.config.secret import Secret

DEFAULT_LISTEN = "127.0.0.1:5632"
DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024


SECRET_FIELDS = frozenset({"api_key", "key", "secret_key", "access_key", "session_token", "admin_token"})


class _Strict(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    """Base for config tables: immutable, and a typo is an error. Secrets never show in a repr."""

    def __repr__(self) -> str:
        fields = ", ".join(f"{f}={'***' if f in SECRET_FIELDS and getattr(self, f) else repr(getattr(self, f))}"
                           for f in self.__struct_fields__)
        return f"{type(self).__name__}({fields})"

    def __post_init__(self) -> None:
        # Tables built in code (tests, tools) may pass a plain str; wrap it so it is masked all the same.
        for name in SECRET_FIELDS.intersection(self.__struct_fields__):
            value = getattr(self, name)
            if isinstance(value, str):
                msgspec.structs.force_setattr(self, name, Secret(value))


class Pricing(_Strict):
    prompt_cost_per_million: float
    completion_cost_per_million: float


#: How a model's deployments are ordered for a request (see crabllm/strategies.py).
RoutingStrategy = Literal["weighted", "latency", "least_busy", "cost"]


class ModelInfo(_Strict):
    context_length: int | None = None
    vision: bool | None = None
    pricing: Pricing | None = None
    #: This model's (or alias's) routing strategy; unset = `[routing] default`.
    routing: RoutingStrategy | None = None


class RateLimit(_Strict):
    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None


class KeyConfig(_Strict):
    name: str
    key: Secret | None = None
    key_sha256: str | None = None
    models: list[str] = msgspec.field(default_factory=lambda: ["*"])
    rate_limit: RateLimit | None = None
    budget: float | None = None
    #: At most this many requests and open streams at once, across every worker sharing the storage.
    max_parallel_requests: int | None = None


class ProviderConfig(_Strict):
    kind: str = "openai"
    api_key: Secret | None = None
    base_url: str | None = None
    models: list[str] = msgspec.field(default_factory=list)
    weight: int = 1
    max_retries: int = 2
    api_version: str | None = None
    timeout: float = 30.0
    first_byte_timeout: float | None = None
    stream_idle_timeout: float | None = None
    region: str | None = None
    access_key: Secret | None = None
    secret_key: Secret | None = None
    session_token: Secret | None = None
    #: Speaks /v1/responses natively (bytes pass through); None = by kind (openai and azure do).
    responses: bool | None = None
    # Only for kind = "mock": what the built-in upstream answers and how fast.
    mock_reply: str | None = None
    mock_chunks: int = 8
    mock_chunk_delay_ms: float = 0.0
    mock_latency_ms: float = 0.0
    mock_dimensions: int = 8


class RateLimitExtension(_Strict):
    """Per-key defaults (a key's own rate_limit overrides them) and optional gateway-wide limits."""

    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None
    global_requests_per_minute: int | None = None
    global_tokens_per_minute: int | None = None


class BudgetKeyConfig(_Strict):
    budget: float


class BudgetExtension(_Strict):
    default_budget: float | None = None
    period: Literal["none", "daily", "weekly", "monthly"] = "none"
    keys: dict[str, BudgetKeyConfig] = msgspec.field(default_factory=dict)


class CacheExtension(_Strict):
    ttl_seconds: int = 300
    max_entries: int = 10000
    shared: bool = False


class AuditExtension(_Strict):
    retention_days: float = 30.0
    max_records: int | None = None


class LoggingExtension(_Strict):
    format: Literal["text", "json"] = "text"
    log_bodies: bool = False


class UsageExtension(_Strict):
    """No settings: counts tokens and requests per key, model and provider."""


class ExtensionsConfig(_Strict):
    audit: AuditExtension | None = None
    budget: BudgetExtension | None = None
    cache: CacheExtension | None = None
    logging: LoggingExtension | None = None
    rate_limit: RateLimitExtension | None = None
    usage: UsageExtension | None = None

    def enabled(self) -> list[str]:
        return [name for name in self.__struct_fields__ if getattr(self, name) is not None]


class CircuitBreakerConfig(_Strict):
    """Skip a failing deployment for a while; on by default."""

    enabled: bool = True
    failure_threshold: int = 5
    error_ratio: float = 0.5
    min_requests: int = 20
    window_seconds: float = 30.0
    cooldown_seconds: float = 15.0
    max_cooldown_seconds: float = 300.0
    #: Below this fraction of usable deployments of a model, open ones are tried too (0: only when none is).
    panic_threshold: float = 0.0


class RoutingConfig(_Strict):
    """The default strategy of every model without its own `routing`, and the latency estimator's memory."""

    default: RoutingStrategy = "weighted"
    #: Time constant of the peak-EWMA latency estimate (strategy `latency`).
    latency_decay_seconds: float = 10.0


class StorageConfig(_Strict):
    kind: str = "memory"
    path: str | None = None


class LimitsConfig(_Strict):
    """Bounds on everything a client controls; each is answered with a 4xx before any upstream call."""

    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_header_bytes: int = 64 * 1024
    max_messages: int = 10_000
    max_multipart_parts: int = 64


class ResponsesConfig(_Strict):
    """Retention of stored /v1/responses objects (`store: true`)."""

    ttl_days: float = 30.0
    max_bytes_per_key: int = 256 * 1024 * 1024


class TelemetryConfig(_Strict):
    """OpenTelemetry traces exported over OTLP/HTTP (protobuf); no table = tracing off."""

    endpoint: str = "http://127.0.0.1:4318/v1/traces"
    service_name: str = "crabllm"
    #: Fraction of new traces kept (a client's sampled `traceparent` is honoured: parent-based).
    sample_ratio: float = 1.0
    #: Sent with every export, e.g. an auth header of the collector; values are masked like secrets.
    headers: dict[str, Secret] = msgspec.field(default_factory=dict)
    timeout: float = 10.0


class Config(_Strict):
    listen: str = DEFAULT_LISTEN
    providers: dict[str, ProviderConfig] = msgspec.field(default_factory=dict)
    keys: list[KeyConfig] = msgspec.field(default_factory=list)
    aliases: dict[str, str] = msgspec.field(default_factory=dict)
    models: dict[str, ModelInfo] = msgspec.field(default_factory=dict)
    cloud_models: str | None = None
    extensions: ExtensionsConfig = msgspec.field(default_factory=ExtensionsConfig)
    storage: StorageConfig = msgspec.field(default_factory=StorageConfig)
    limits: LimitsConfig = msgspec.field(default_factory=LimitsConfig)
    circuit_breaker: CircuitBreakerConfig = msgspec.field(default_factory=CircuitBreakerConfig)
    routing: RoutingConfig = msgspec.field(default_factory=RoutingConfig)
    responses: ResponsesConfig = msgspec.field(default_factory=ResponsesConfig)
    telemetry: TelemetryConfig | None = None
    admin_token: Secret | None = None
    shutdown_timeout: float = 30.0
    openapi: bool = True
    metrics_public: bool = False
