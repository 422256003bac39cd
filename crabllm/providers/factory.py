"""Build a Provider from its config table; the kind decides the implementation."""

from __future__ import annotations

import aiohttp

from crabllm.config.schema import ProviderConfig
from crabllm.providers.anthropic import AnthropicProvider
from crabllm.providers.base import Provider
from crabllm.providers.bedrock import BedrockProvider
from crabllm.providers.google import GoogleProvider
from crabllm.providers.mock import MockProvider
from crabllm.providers.openai import OpenAICompatProvider


def build_provider(name: str, cfg: ProviderConfig, session: aiohttp.ClientSession) -> Provider:
    """Kinds are validated by the config loader; anything else is an OpenAI-compatible service."""
    if cfg.kind == "mock":
        return MockProvider(name, cfg)
    if cfg.kind == "anthropic":
        return AnthropicProvider(name, cfg, session)
    if cfg.kind == "google":
        return GoogleProvider(name, cfg, session)
    if cfg.kind == "bedrock":
        return BedrockProvider(name, cfg, session)
    return OpenAICompatProvider(name, cfg, session)
