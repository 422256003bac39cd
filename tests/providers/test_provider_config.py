"""Per-kind config validation and construction of the anthropic, google and bedrock providers."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from crabllm.config.loader import parse_config
from crabllm.config.schema import ProviderConfig
from crabllm.errors import ConfigError
from crabllm.providers.anthropic import AnthropicProvider, anthropic_base_url, join_beta
from crabllm.providers.base import Endpoint
from crabllm.providers.bedrock import BedrockProvider
from crabllm.providers.factory import build_provider
from crabllm.providers.google import GoogleProvider

AWS = {"AWS_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "AK", "AWS_SECRET_ACCESS_KEY": "SK"}


def err(text: str, env: dict[str, str] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as e:
        parse_config(text, file="c.toml", env=env or {})
    return e.value


@pytest.mark.parametrize("kind, hint", [("anthropic", "ANTHROPIC_API_KEY"), ("google", "GEMINI_API_KEY")])
def test_api_key_required(kind: str, hint: str) -> None:
    e = err(f'[providers.p]\nkind = "{kind}"\nmodels = ["m"]\n')
    assert e.path == "providers.p.api_key" and "requires an api_key" in e.message and hint in str(e)
    assert parse_config(f'[providers.p]\nkind = "{kind}"\napi_key = "k"\nmodels = ["m"]\n', env={}).providers["p"].kind == kind


def test_bedrock_validation() -> None:
    base = '[providers.b]\nkind = "bedrock"\nmodels = ["m"]\n'
    assert err(base).path == "providers.b.region"
    assert err(base + 'region = "us-east-1"\n').path == "providers.b.access_key"
    e = err(base + 'region = "us-east-1"\naccess_key = "AK"\n')
    assert e.path == "providers.b.secret_key" and "only one of" in e.message
    assert err(base + 'session_token = "t"\n', AWS).path == "providers.b.session_token"
    # Region and credentials may come from the standard AWS variables instead.
    assert parse_config(base, env=AWS).providers["b"].region is None
    assert parse_config(base + 'region = "us-east-1"\naccess_key = "AK"\nsecret_key = "SK"\n', env={})
    assert parse_config(base, env={"AWS_DEFAULT_REGION": "us-east-2", "AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"})


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    s = aiohttp.ClientSession()
    yield s
    await s.close()


async def test_factory_and_supports(session: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in AWS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    a = build_provider("a", ProviderConfig(kind="anthropic", api_key="k"), session)
    g = build_provider("g", ProviderConfig(kind="google", api_key="k"), session)
    b = build_provider("b", ProviderConfig(kind="bedrock"), session)
    assert isinstance(a, AnthropicProvider) and a.base_url == "https://api.anthropic.com/v1"
    assert isinstance(g, GoogleProvider) and g.base_url == "https://generativelanguage.googleapis.com/v1beta"
    assert isinstance(b, BedrockProvider) and b.base_url == "https://bedrock-runtime.eu-west-1.amazonaws.com"
    for p in (a, g, b):
        assert not p.passthrough and p.supports(Endpoint.CHAT)
        assert not any(p.supports(e) for e in Endpoint if e is not Endpoint.CHAT)
    assert g.url("models/gemini-2.5-pro", True) == (
        "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse")


def test_anthropic_base_url_forms() -> None:
    for url in ("https://api.anthropic.com", "https://api.anthropic.com/", "https://api.anthropic.com/v1",
                "https://api.anthropic.com/v1/messages"):
        assert anthropic_base_url(url) == "https://api.anthropic.com/v1"
    assert anthropic_base_url("https://api.deepseek.com/anthropic") == "https://api.deepseek.com/anthropic/v1"


def test_join_beta() -> None:
    assert join_beta("oauth-2025-04-20", "a, b,oauth-2025-04-20", None) == "oauth-2025-04-20,a,b"
    assert join_beta(None, "") is None
