"""Pure view models: admin API payloads -> rows and series the screens render (no Textual here)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

LIVE_SECONDS = 10  # "current" rates are averaged over the last few seconds of the series


@dataclass(frozen=True)
class KeyRow:
    name: str
    source: str
    prefix: str
    models: str
    rpm: int | None
    tpm: int | None
    budget: float | None
    expires_at: float | None
    expired: bool
    requests: int
    tokens: int
    spend: float

    @property
    def editable(self) -> bool:
        return self.source == "issued"


@dataclass(frozen=True)
class ProviderRow:
    name: str
    kind: str
    models: str
    weight: int
    test_ok: bool | None
    tested_at: float | None
    latency_ms: float | None
    requests: int
    errors: int
    last_error: str
    base_url: str
    circuit: str = "closed"  # its worst model's circuit: closed | open | half_open | rate_limited
    open_until: float | None = None
    open_models: str = ""  # the models whose circuit is not closed (the breaker is per deployment)
    inflight: int = 0  # attempts and open streams over its deployments (the answering worker's view)
    ewma_ms: float | None = None  # its slowest deployment's peak-EWMA latency

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.requests if self.requests else None


def _by_name(stats: dict[str, Any] | None, group: str) -> dict[str, dict[str, Any]]:
    return {row["name"]: row for row in (stats or {}).get(group) or [] if isinstance(row, dict) and "name" in row}


def key_rows(keys: list[dict[str, Any]], stats: dict[str, Any] | None) -> list[KeyRow]:
    usage = _by_name(stats, "by_key")
    rows = []
    for k in keys:
        rl = k.get("rate_limit") or {}
        u = usage.get(k["name"], {})
        rows.append(KeyRow(
            name=k["name"], source=k.get("source", ""), prefix=k.get("key_prefix") or "",
            models=", ".join(k.get("models") or []), rpm=rl.get("requests_per_minute"), tpm=rl.get("tokens_per_minute"),
            budget=k.get("budget"), expires_at=k.get("expires_at"), expired=bool(k.get("expired")),
            requests=int(u.get("requests", 0)), tokens=int(u.get("prompt_tokens", 0)) + int(u.get("completion_tokens", 0)),
            spend=float(u.get("spend_usd", 0.0)),
        ))
    return rows


def provider_rows(providers: list[dict[str, Any]], stats: dict[str, Any] | None,
                  last_errors: dict[str, str]) -> list[ProviderRow]:
    traffic = _by_name(stats, "by_provider")
    rows = []
    for p in providers:
        test = p.get("last_test") or {}
        t = traffic.get(p["name"], {})
        rows.append(ProviderRow(
            name=p["name"], kind=p.get("kind", ""), models=", ".join(p.get("models") or []), weight=int(p.get("weight", 1)),
            test_ok=test.get("ok") if test else None, tested_at=test.get("tested_at") if test else None,
            latency_ms=test.get("latency_ms") if test else None, requests=int(t.get("requests", 0)),
            errors=int(t.get("errors", 0)),
            last_error=last_errors.get(p["name"]) or (test.get("error") or "") or ((p.get("health") or {}).get("last_error") or ""),
            base_url=p.get("base_url") or "", circuit=(p.get("health") or {}).get("state", "closed"),
            open_until=(p.get("health") or {}).get("open_until"),
            open_models=", ".join((p.get("health") or {}).get("open_models") or []),
            **_load(p.get("deployments") or []),
        ))
    return rows


def _load(deployments: list[dict[str, Any]]) -> dict[str, Any]:
    latencies = [d["ewma_latency_ms"] for d in deployments if d.get("ewma_latency_ms") is not None]
    return {"inflight": sum(int(d.get("inflight") or 0) for d in deployments),
            "ewma_ms": max(latencies) if latencies else None}


@dataclass(frozen=True)
class Series:
    """Per-second series over the stats window, oldest first."""

    rps: list[float]
    error_rate: list[float]
    p50: list[float]
    p95: list[float]
    tokens: list[float]

    def now(self, name: str) -> float:
        """The mean of the last LIVE_SECONDS points of one series."""
        data = getattr(self, name)[-LIVE_SECONDS:]
        return sum(data) / len(data) if data else 0.0


def series(stats: dict[str, Any] | None) -> Series:
    points = (stats or {}).get("series") or []
    return Series(
        rps=[float(p.get("requests") or 0) for p in points],
        error_rate=[(p.get("errors") or 0) / p["requests"] if p.get("requests") else 0.0 for p in points],
        p50=[float(p.get("p50_ms") or 0) for p in points],
        p95=[float(p.get("p95_ms") or 0) for p in points],
        tokens=[float(p.get("tokens") or 0) for p in points],
    )


def last_latency(stats: dict[str, Any] | None, name: str) -> float | None:
    """The most recent non-empty per-second percentile, else the window's."""
    for p in ((stats or {}).get("series") or [])[::-1][:LIVE_SECONDS]:
        if p.get(name) is not None:
            return float(p[name])
    window = ((stats or {}).get("latency_ms") or {}).get(name.removesuffix("_ms"))
    return None if window is None else float(window)
