"""Shared fixtures: a fake OpenAI upstream and a real gateway server, both on loopback."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.fakes.gateway import GatewayServer
from tests.fakes.openai_upstream import FakeOpenAI

KEY = "sk-test-" + "a" * 56
OTHER_KEY = "sk-test-" + "b" * 56
ADMIN = "sk-admin-" + "c" * 55


@pytest.fixture
def upstream() -> Iterator[FakeOpenAI]:
    fake = FakeOpenAI().start()
    yield fake
    fake.stop()


def basic_config(upstream_url: str, extra: str = "", *, models: str = '["gpt-4o", "text-embedding-3-small"]') -> str:
    return f'''
admin_token = "{ADMIN}"

[providers.fake]
kind = "openai"
base_url = "{upstream_url}"
api_key = "sk-upstream-secret"
models = {models}
max_retries = 2
timeout = 5

[[keys]]
name = "team-a"
key = "{KEY}"
models = ["*"]

[[keys]]
name = "restricted"
key = "{OTHER_KEY}"
models = ["gpt-4o"]
{extra}
'''


@pytest.fixture
def make_gateway(tmp_path: Path) -> Iterator[Callable[[str], GatewayServer]]:
    started: list[GatewayServer] = []

    def make(toml: str, name: str = "crabllm.toml") -> GatewayServer:
        path = tmp_path / name
        path.write_text(toml)
        server = GatewayServer(path).start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def gateway(upstream: FakeOpenAI, make_gateway: Callable[[str], GatewayServer]) -> GatewayServer:
    return make_gateway(basic_config(upstream.base_url))
