"""A fake AdminClient with fixed answers and a frozen clock, for snapshot tests of the console."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator
from datetime import timezone
from typing import Any

from crabllm.client import ClientError, Target

NOW = 1_767_272_400.0  # 2026-01-01 13:00:00 UTC
UTC = timezone.utc
SECRET = "sk-crab-" + "7" * 48


def _series(now: float, window: int) -> list[dict[str, Any]]:
    out = []
    for i in range(window):
        t = int(now) - window + 1 + i
        requests = 3 + (i * 7) % 11 + (i // 30) % 4
        errors = 1 if i % 37 == 0 else 0
        out.append({"t": t, "requests": requests, "errors": errors, "tokens": requests * (40 + i % 23),
                    "p50_ms": 120.0 + (i * 13) % 60, "p95_ms": 300.0 + (i * 29) % 240})
    return out


def stats(window: int = 300, *, reload_ok: bool = True) -> dict[str, Any]:
    last_reload = {"at": NOW - 180, "ok": True, "error": None, "reason": "file changed"} if reload_ok else {
        "at": NOW - 42, "ok": False, "reason": "file changed",
        "error": "crabllm.toml: providers.openai.weight: expected int, got str"}
    return {
        "window_s": window, "now": int(NOW), "requests": 2412, "errors": 9, "prompt_tokens": 81234,
        "completion_tokens": 40511, "spend_usd": 1.8342, "error_rate": 9 / 2412, "rps": 2412 / window,
        "tokens_per_s": 121745 / window, "latency_ms": {"p50": 131.0, "p95": 488.0, "p99": 912.0},
        "spend_today_usd": 23.4817, "series": _series(NOW, window),
        "by_key": [
            {"name": "team-search", "requests": 1530, "errors": 2, "prompt_tokens": 51000, "completion_tokens": 25500,
             "spend_usd": 1.102},
            {"name": "batch-jobs", "requests": 702, "errors": 7, "prompt_tokens": 24000, "completion_tokens": 12000,
             "spend_usd": 0.6012},
            {"name": "ci", "requests": 180, "errors": 0, "prompt_tokens": 6234, "completion_tokens": 3011,
             "spend_usd": 0.131},
        ],
        "by_model": [
            {"name": "gpt-4o-mini", "requests": 1888, "errors": 3, "prompt_tokens": 60000, "completion_tokens": 30000,
             "spend_usd": 0.61},
            {"name": "claude-sonnet-4", "requests": 524, "errors": 6, "prompt_tokens": 21234, "completion_tokens": 10511,
             "spend_usd": 1.2242},
        ],
        "by_provider": [
            {"name": "openai", "requests": 1888, "errors": 3, "prompt_tokens": 60000, "completion_tokens": 30000,
             "spend_usd": 0.61},
            {"name": "anthropic", "requests": 524, "errors": 6, "prompt_tokens": 21234, "completion_tokens": 10511,
             "spend_usd": 1.2242},
        ],
        "inflight": 4, "streams": 2,
        "config": {"generation": 7, "last_reload": last_reload},
    }


KEYS: list[dict[str, Any]] = [
    {"name": "team-search", "source": "config", "models": ["*"], "key_prefix": "sk-crab-…",
     "rate_limit": {"requests_per_minute": 600, "tokens_per_minute": 200000}, "budget": 50.0,
     "expires_at": None, "created_at": None, "expired": False},
    {"name": "batch-jobs", "source": "issued", "models": ["gpt-4o-mini"], "key_prefix": "sk-crab-9f…",
     "rate_limit": None, "budget": None, "expires_at": NOW + 86400 * 30, "created_at": NOW - 86400, "expired": False},
    {"name": "ci", "source": "issued", "models": ["gpt-4o-mini", "claude-sonnet-4"], "key_prefix": "sk-crab-1a…",
     "rate_limit": {"requests_per_minute": 60, "tokens_per_minute": None}, "budget": 5.0,
     "expires_at": NOW - 3600, "created_at": NOW - 86400 * 9, "expired": True},
]

PROVIDERS: list[dict[str, Any]] = [
    {"name": "openai", "kind": "openai", "models": ["gpt-4o-mini", "text-embedding-3-small"], "weight": 3,
     "max_retries": 2, "timeout": 30.0, "base_url": None, "api_key": "sk-pro…", "api_version": None,
     "last_test": {"ok": True, "latency_ms": 212.4, "status": 200, "error": None, "models": ["gpt-4o-mini"],
                   "tested_at": NOW - 300},
     "deployments": [{"model": "gpt-4o-mini", "state": "closed", "ewma_latency_ms": 384.2, "inflight": 3},
                     {"model": "text-embedding-3-small", "state": "closed", "ewma_latency_ms": 41.0, "inflight": 0}]},
    {"name": "anthropic", "kind": "anthropic", "models": ["claude-sonnet-4"], "weight": 1, "max_retries": 2,
     "timeout": 60.0, "base_url": None, "api_key": "sk-ant…", "api_version": None,
     "last_test": {"ok": False, "latency_ms": 10004.0, "status": None, "error": "timed out after 10s", "models": None,
                   "tested_at": NOW - 60}},
    {"name": "local", "kind": "mock", "models": ["echo"], "weight": 1, "max_retries": 0, "timeout": 5.0,
     "base_url": None, "api_key": None, "api_version": None, "last_test": None},
]


def events() -> list[dict[str, Any]]:
    rows = [("team-search", "gpt-4o-mini", "openai", 200, False, 118.2, 320, 41, None),
            ("batch-jobs", "gpt-4o-mini", "openai", 200, True, 1534.0, 1200, 512, None),
            ("ci", "claude-sonnet-4", "anthropic", 502, False, 10012.3, 0, 0, "upstream timed out"),
            ("team-search", "claude-sonnet-4", "anthropic", 200, True, 2210.9, 900, 300, None),
            (None, None, None, 401, False, 0.4, 0, 0, "invalid API key"),
            ("batch-jobs", "gpt-4o-mini", "openai", 429, False, 1.1, 0, 0, "rate limit exceeded")]
    out = []
    for i, (key, model, provider, status, stream, latency, prompt, completion, error) in enumerate(rows):
        out.append({"id": f"req-{i:04d}", "time": NOW - 60 + i * 7, "path": "/v1/chat/completions", "key": key,
                    "model": model, "provider": provider, "status": status, "stream": stream, "latency_ms": latency,
                    "prompt_tokens": prompt, "completion_tokens": completion,
                    "cost_usd": round((prompt * 0.15 + completion * 0.6) / 1e6, 9), "error": error})
    return out


class CannedClient:
    """Answers like AdminClient from fixed data; `fail` makes every call raise it (connection states)."""

    def __init__(self, *, fail: ClientError | None = None, reload_ok: bool = True, feed: bool = True) -> None:
        self.target = Target(url="http://127.0.0.1:5632", token="sk-admin")
        self.fail = fail
        self.reload_ok = reload_ok
        self.feed = feed
        self.keys_data = copy.deepcopy(KEYS)
        self.providers_data = copy.deepcopy(PROVIDERS)
        self.calls: list[tuple[str, Any]] = []

    def _check(self, name: str, arg: Any = None) -> None:
        self.calls.append((name, arg))
        if self.fail is not None:
            raise self.fail

    async def close(self) -> None:
        pass

    async def stats(self, window: int = 60) -> dict[str, Any]:
        self._check("stats", window)
        return stats(window, reload_ok=self.reload_ok)

    async def keys(self) -> list[dict[str, Any]]:
        self._check("keys")
        return copy.deepcopy(self.keys_data)

    async def providers(self) -> list[dict[str, Any]]:
        self._check("providers")
        return copy.deepcopy(self.providers_data)

    async def create_key(self, body: dict[str, Any]) -> dict[str, Any]:
        self._check("create_key", body)
        info = {"name": body["name"], "source": "issued", "models": body.get("models", ["*"]), "key_prefix": "sk-crab-77…",
                "rate_limit": body.get("rate_limit"), "budget": body.get("budget"), "expires_at": None,
                "created_at": NOW, "expired": False}
        self.keys_data.append(info)
        return {**info, "key": SECRET}

    async def update_key(self, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        self._check("update_key", (name, patch))
        return {"name": name, **patch}

    async def revoke_key(self, name: str) -> None:
        self._check("revoke_key", name)
        self.keys_data = [k for k in self.keys_data if k["name"] != name]

    async def create_provider(self, body: dict[str, Any]) -> dict[str, Any]:
        self._check("create_provider", body)
        return body

    async def update_provider(self, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        self._check("update_provider", (name, patch))
        return {"name": name, **patch}

    async def delete_provider(self, name: str) -> None:
        self._check("delete_provider", name)

    async def test_provider(self, name: str) -> dict[str, Any]:
        self._check("test_provider", name)
        return {"ok": True, "latency_ms": 12.5, "status": 200, "models": ["echo"], "tested_at": NOW}

    async def reload(self) -> dict[str, Any]:
        self._check("reload")
        return {"generation": 8}

    async def events(self) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        self._check("events")
        if self.feed:
            for event in events():
                yield "request", event
        await asyncio.Event().wait()  # the feed stays open, quietly
