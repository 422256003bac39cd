"""Admin API wire types (msgspec): request bodies forbid unknown fields, responses are documented."""

from __future__ import annotations

import msgspec

from typing import Annotated

from crabllm.config.schema import RateLimit

Name = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9._-]{1,64}$", description="letters, digits, '.', '_' or '-'")]
USD = Annotated[float, msgspec.Meta(ge=0)]
Parallel = Annotated[int, msgspec.Meta(ge=1, description="requests and open streams at once, across every worker")]


class KeyCreate(msgspec.Struct, forbid_unknown_fields=True):
    name: Name
    models: list[str] = msgspec.field(default_factory=lambda: ["*"])
    rate_limit: RateLimit | None = None
    budget: USD | None = None
    expires_at: float | None = None  # unix seconds
    expires_in: float | None = None  # seconds from now (alternative to expires_at)
    max_parallel_requests: Parallel | None = None


class KeyPatch(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """Merge patch: an absent field is unchanged, null clears rate_limit, budget, expires_at or max_parallel_requests."""

    models: list[str] | msgspec.UnsetType = msgspec.UNSET
    rate_limit: RateLimit | None | msgspec.UnsetType = msgspec.UNSET
    budget: USD | None | msgspec.UnsetType = msgspec.UNSET
    expires_at: float | None | msgspec.UnsetType = msgspec.UNSET
    max_parallel_requests: Parallel | None | msgspec.UnsetType = msgspec.UNSET


class IssuedKey(msgspec.Struct, frozen=True):
    """What storage holds for an API-issued key: never the secret, only its SHA-256."""

    name: str
    sha256: str
    prefix: str
    models: list[str]
    created_at: float
    rate_limit: RateLimit | None = None
    budget: float | None = None
    expires_at: float | None = None
    previous_sha256: str | None = None  # the secret replaced by a rotation, valid until previous_expires_at
    previous_expires_at: float | None = None
    max_parallel_requests: int | None = None


class KeyRotate(msgspec.Struct, forbid_unknown_fields=True):
    grace_seconds: float = 0.0  # how long the old secret keeps working


class KeyInfo(msgspec.Struct):
    name: str
    source: str  # "config" or "issued"
    models: list[str]
    key_prefix: str | None = None
    rate_limit: RateLimit | None = None
    budget: float | None = None
    expires_at: float | None = None
    created_at: float | None = None
    expired: bool = False
    previous_expires_at: float | None = None
    max_parallel_requests: int | None = None


class KeyCreated(KeyInfo):
    key: str = ""


class KeyList(msgspec.Struct):
    data: list[KeyInfo]


class ProviderCreate(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    name: Name
    kind: str = "openai"
    api_key: str | None = None
    base_url: str | None = None
    models: list[str] | None = None
    weight: int | None = None
    max_retries: int | None = None
    timeout: float | None = None
    api_version: str | None = None
    region: str | None = None
    access_key: str | None = None
    secret_key: str | None = None


class ProviderPatch(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    kind: str | msgspec.UnsetType = msgspec.UNSET
    api_key: str | None | msgspec.UnsetType = msgspec.UNSET
    base_url: str | None | msgspec.UnsetType = msgspec.UNSET
    models: list[str] | msgspec.UnsetType = msgspec.UNSET
    weight: int | None | msgspec.UnsetType = msgspec.UNSET
    max_retries: int | None | msgspec.UnsetType = msgspec.UNSET
    timeout: float | None | msgspec.UnsetType = msgspec.UNSET
    api_version: str | None | msgspec.UnsetType = msgspec.UNSET
    region: str | None | msgspec.UnsetType = msgspec.UNSET
    access_key: str | None | msgspec.UnsetType = msgspec.UNSET
    secret_key: str | None | msgspec.UnsetType = msgspec.UNSET


class ProviderInfo(msgspec.Struct):
    name: str
    kind: str
    models: list[str]
    weight: int
    max_retries: int
    timeout: float
    base_url: str | None = None
    api_key: str | None = None  # masked
    api_version: str | None = None
    last_test: ProviderTest | None = None
    #: The worst state among its models (open > half_open > rate_limited > closed).
    health: ProviderHealth | None = None
    #: One entry per model: the circuit breaker keys deployments by (provider, model).
    deployments: list[DeploymentHealth] = msgspec.field(default_factory=list)


class ProviderHealth(msgspec.Struct):
    """This worker's view of the circuit breaker (open states are shared by all workers)."""

    state: str  # closed | open | half_open | rate_limited
    consecutive_failures: int = 0
    error_rate: float = 0.0  # over the breaker's window
    open_until: float | None = None
    last_error: str | None = None
    #: For a provider's aggregate: the models whose circuit is not closed.
    open_models: list[str] = msgspec.field(default_factory=list)


class DeploymentHealth(msgspec.Struct):
    """One (provider, model) deployment's circuit, and its load as this worker sees it."""

    model: str
    state: str
    consecutive_failures: int = 0
    error_rate: float = 0.0
    open_until: float | None = None
    last_error: str | None = None
    #: Peak-EWMA latency (time to first byte for streams); None before the first answer. Per worker.
    ewma_latency_ms: float | None = None
    #: Attempts and open streams on this deployment right now. Per worker.
    inflight: int = 0


class ProviderTest(msgspec.Struct):
    ok: bool
    latency_ms: float
    status: int | None = None
    error: str | None = None
    models: list[str] | None = None
    tested_at: float = 0.0


class ProviderList(msgspec.Struct):
    data: list[ProviderInfo]


class ReloadStatus(msgspec.Struct):
    at: float
    ok: bool
    error: str | None = None
    reason: str = ""


class ConfigStatus(msgspec.Struct):
    path: str
    generation: int
    loaded_at: float
    storage: str
    last_reload: ReloadStatus | None = None
