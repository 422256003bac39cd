"""Documented shapes of admin responses the handlers build as plain dicts: stats, usage, budget, audit log."""

from __future__ import annotations

import msgspec

from crabllm.types.admin import ReloadStatus


class LatencyPercentiles(msgspec.Struct):
    p50: float | None = None
    p95: float | None = None
    p99: float | None = None


class StatsPoint(msgspec.Struct):
    """One second of the window."""

    t: int
    requests: int
    errors: int
    tokens: int
    p50_ms: float | None = None
    p95_ms: float | None = None


class StatsGroup(msgspec.Struct):
    """Totals of one key, model or provider over the window (top 10 by requests)."""

    name: str
    requests: int
    errors: int
    prompt_tokens: int
    completion_tokens: int
    spend_usd: float


class StatsConfig(msgspec.Struct):
    generation: int
    last_reload: ReloadStatus | None = None


class StatsSnapshot(msgspec.Struct):
    """Rolling traffic statistics over the last `window_s` seconds."""

    window_s: int
    now: int
    requests: int
    errors: int
    prompt_tokens: int
    completion_tokens: int
    spend_usd: float
    error_rate: float
    rps: float
    tokens_per_s: float
    latency_ms: LatencyPercentiles
    spend_today_usd: float
    series: list[StatsPoint]
    by_key: list[StatsGroup]
    by_model: list[StatsGroup]
    by_provider: list[StatsGroup]
    inflight: int
    streams: int
    config: StatsConfig


class UsageRow(msgspec.Struct):
    """Totals of one key x model x provider since usage accounting was enabled."""

    key: str
    model: str
    provider: str
    requests: int
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    cost_usd: float


class UsageReport(msgspec.Struct):
    data: list[UsageRow]


class BudgetRow(msgspec.Struct):
    key: str
    spent_usd: float
    period: str
    period_id: str
    limit_usd: float | None = None
    remaining_usd: float | None = None
    next_reset: float | None = None


class BudgetReport(msgspec.Struct):
    """Spend per key for the current period (`none` = since the start)."""

    data: list[BudgetRow]


class BudgetReset(msgspec.Struct):
    key: str
    spent_usd: float


class CacheCleared(msgspec.Struct):
    removed: int


class AuditEntry(msgspec.Struct, omit_defaults=True):
    """One finished request; timestamp in epoch ms. Stored by the audit extension as is."""

    request_id: str
    timestamp: int
    key: str
    model: str
    provider: str
    status: int
    latency_ms: float
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    stream: bool = False
    endpoint: str = ""
    error: str | None = None
    cached: bool = False


class AuditLog(msgspec.Struct):
    """Newest first."""

    data: list[AuditEntry]
