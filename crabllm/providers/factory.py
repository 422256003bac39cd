"""Build a Provider from its config table; the kind decides the implementation."""

from __future__ import annotations

import aiohttp

from crabllm.config.schema import ProviderConfig
from crabllm.providers.base import Provider
from crabllm.providers.mock import MockProvider
from crabllm.providers.openai import OpenAICompatProvider


def build_provider(name: str, cfg: ProviderConfig, session: aiohttp.ClientSession) -> Provider:
    """Kinds are validated by the config loader; anything else is an OpenAI-compatible service."""
    if cfg.kind == "mock":
        return MockProvider(name, cfg)
    return OpenAICompatProvider(name, cfg, session)
