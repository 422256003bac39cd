"""The frozen Registry snapshot built from a Config, and the holder that swaps it in one assignment."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from crabllm.config.schema import Config, ModelInfo, RateLimit
from crabllm.errors import ModelNotFound, PermissionDenied
from crabllm.providers.base import Provider
from crabllm.providers.factory import build_provider
from crabllm.routing.strategies import build_strategy


@dataclass(frozen=True, slots=True)
class KeyEntry:
    """A virtual key as the gateway sees it: never the secret, only its name and rights."""

    name: str
    models: frozenset[str] | None  # None = every model
    rate_limit: RateLimit | None = None
    budget: float | None = None
    source: str = "config"
    expires_at: float | None = None
    max_parallel_requests: int | None = None

    def allows(self, requested: str, resolved: str) -> bool:
        return self.models is None or requested in self.models or resolved in self.models


@dataclass(frozen=True, slots=True)
class Route:
    """Where a model name leads: the canonical name, its deployments and how they are ordered."""

    model: str
    deployments: tuple[Provider, ...]
    #: crabllm.routing.strategies.Strategy; None = weighted (routing.attempt_order, the fast path).
    strategy: Any = None

    @property
    def routing(self) -> str:
        return "weighted" if self.strategy is None else str(self.strategy.name)


@dataclass(frozen=True)
class Registry:
    """Everything a request needs, precomputed; never mutated after build."""

    config: Config
    path: str
    generation: int
    loaded_at: float
    routes: dict[str, Route]
    models: tuple[str, ...]
    keys: dict[bytes, KeyEntry]
    admin_digest: bytes | None
    providers: dict[str, Provider] = field(default_factory=dict)
    #: (provider, model) -> USD per token (prompt, completion); provider-specific price first.
    prices: dict[tuple[str, str], tuple[float, float]] = field(default_factory=dict)
    #: The extension pipeline (crabllm.extensions.pipeline.Pipeline), None when no extension is on.
    pipeline: Any = None

    def cost(self, provider: str, model: str, prompt_tokens: int, completion_tokens: int) -> float:
        price = self.prices.get((provider, model))
        if price is None:
            return 0.0
        return prompt_tokens * price[0] + completion_tokens * price[1]

    @property
    def log_bodies(self) -> bool:
        ext = self.config.extensions.logging
        return ext is not None and ext.log_bodies

    @property
    def auth_enabled(self) -> bool:
        return bool(self.keys) or self.admin_digest is not None

    def route(self, requested: str) -> Route:
        route = self.routes.get(requested)
        if route is None:
            resolved = self.config.aliases.get(requested, requested)
            raise ModelNotFound(f"model '{resolved}' not found", param="model")
        return route

    def check_allowed(self, key: KeyEntry | None, requested: str, resolved: str) -> None:
        if key is not None and not key.allows(requested, resolved):
            raise PermissionDenied(f"key '{key.name}' is not allowed to use model '{requested}'", param="model")

    def model_info(self, model: str) -> ModelInfo | None:
        return self.config.models.get(model)

    def visible_models(self, key: KeyEntry | None) -> list[str]:
        names = list(self.models) + sorted(self.config.aliases)
        if key is None or key.models is None:
            return names
        return [m for m in names if key.allows(m, self.config.aliases.get(m, m))]


def digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def build_registry(config: Config, session: aiohttp.ClientSession, *, path: str = "", generation: int = 1,
                   pipeline: Any = None) -> Registry:
    """Build every provider and lookup table once, so requests do only dictionary lookups."""
    providers = {name: build_provider(name, cfg, session) for name, cfg in config.providers.items()}
    by_model: dict[str, list[Provider]] = {}
    for name, cfg in config.providers.items():
        for model in dict.fromkeys(cfg.models):
            by_model.setdefault(model, []).append(providers[name])
    prices = _prices(config)
    routes = {model: Route(model, tuple(deps), build_strategy(_routing(config, model), model, prices))
              for model, deps in by_model.items()}
    for alias, target in config.aliases.items():
        if target in routes:
            own = config.models.get(alias)
            if own is not None and own.routing is not None:  # an alias may route its target its own way
                routes[alias] = Route(target, routes[target].deployments, build_strategy(own.routing, target, prices))
            else:
                routes[alias] = routes[target]
    keys: dict[bytes, KeyEntry] = {}
    for k in config.keys:
        entry = KeyEntry(name=k.name, models=None if "*" in k.models else frozenset(k.models),
                         rate_limit=k.rate_limit, budget=k.budget, max_parallel_requests=k.max_parallel_requests)
        keys[digest(k.key.reveal()) if k.key is not None else bytes.fromhex(k.key_sha256 or "")] = entry
    return Registry(
        config=config, path=path, generation=generation, loaded_at=time.time(), routes=routes,
        models=tuple(sorted(by_model)), keys=keys,
        admin_digest=digest(config.admin_token.reveal()) if config.admin_token else None, providers=providers,
        prices=prices, pipeline=pipeline,
    )


def _routing(config: Config, model: str) -> str:
    info = config.models.get(model)
    return info.routing if info is not None and info.routing is not None else config.routing.default


def _prices(config: Config) -> dict[tuple[str, str], tuple[float, float]]:
    out: dict[tuple[str, str], tuple[float, float]] = {}
    for name, cfg in config.providers.items():
        for model in cfg.models:
            info = config.models.get(f"{name}/{model}") or config.models.get(model)
            if info is not None and info.pricing is not None:
                out[(name, model)] = (info.pricing.prompt_cost_per_million / 1e6,
                                      info.pricing.completion_cost_per_million / 1e6)
    return out


class RegistryHolder:
    """Holds the current snapshot; a reload replaces it with one assignment."""

    __slots__ = ("current",)

    def __init__(self, registry: Registry) -> None:
        self.current = registry

    def swap(self, registry: Registry) -> Registry:
        old, self.current = self.current, registry
        return old

