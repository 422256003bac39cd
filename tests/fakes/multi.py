"""Module-scoped fixtures: every fake upstream kind, and one gateway routing models to all of them."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.conftest import KEY
from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.fakes.bedrock_upstream import ACCESS_KEY, REGION, SECRET_KEY, FakeBedrock
from tests.fakes.gateway import GatewayServer
from tests.fakes.gemini_upstream import FakeGemini
from tests.fakes.openai_upstream import FakeOpenAI

CLAUDE = "claude-crab-1"  # not a real model name: the SDK warns about deprecated ones
GEMINI = "gemini-2.0-flash"
BEDROCK = "anthropic.claude-3-5-sonnet-20240620-v1:0"
ANTHROPIC_KEY = "sk-ant-api03-upstream-secret"
GOOGLE_KEY = "AIza-upstream-secret"


@dataclass
class Fakes:
    anthropic: FakeAnthropic
    gemini: FakeGemini
    bedrock: FakeBedrock
    openai: FakeOpenAI

    def all(self) -> list[FakeOpenAI]:
        return [self.anthropic, self.gemini, self.bedrock, self.openai]

    def reset(self) -> None:
        for fake in self.all():
            with fake._lock:
                fake.received.clear()
                fake.scripts.clear()
            fake.default_reply = None
        self.bedrock.checks.clear()
        self.bedrock.token = None


def multi_config(f: Fakes, extra: str = "") -> str:
    return f'''
[providers.claude]
kind = "anthropic"
api_key = "{ANTHROPIC_KEY}"
base_url = "{f.anthropic.base_url}"
models = ["{CLAUDE}", "claude-mixed"]
max_retries = 0
timeout = 5

[providers.gem]
kind = "google"
api_key = "{GOOGLE_KEY}"
base_url = "{f.gemini.base_url}"
models = ["{GEMINI}"]
max_retries = 0
timeout = 5

[providers.br]
kind = "bedrock"
region = "{REGION}"
access_key = "{ACCESS_KEY}"
secret_key = "{SECRET_KEY}"
base_url = "{f.bedrock.base_url}"
models = ["{BEDROCK}"]
max_retries = 0
timeout = 5

[providers.oai]
kind = "openai"
api_key = "sk-openai-upstream"
base_url = "{f.openai.base_url}"
models = ["gpt-4o", "claude-mixed", "dall-e-3", "tts-1", "whisper-1"]
weight = 0
max_retries = 0
timeout = 5

[providers.mock]
kind = "mock"
models = ["mock-chat", "mock-image", "mock-tts", "mock-whisper"]

[aliases]
sonnet = "{CLAUDE}"
flash = "{GEMINI}"
br-sonnet = "{BEDROCK}"
whisper = "whisper-1"
painter = "dall-e-3"

[[keys]]
name = "team-a"
key = "{KEY}"
models = ["*"]
{extra}
'''


@pytest.fixture(scope="module")
def fakes() -> Iterator[Fakes]:
    f = Fakes(FakeAnthropic().start(), FakeGemini().start(), FakeBedrock().start(), FakeOpenAI().start())
    yield f
    for fake in f.all():
        fake.stop()


@pytest.fixture(scope="module")
def multi(fakes: Fakes, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayServer]:
    path: Path = tmp_path_factory.mktemp("multi") / "crabllm.toml"
    path.write_text(multi_config(fakes))
    server = GatewayServer(path).start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _clean_fakes(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "fakes" in request.fixturenames:
        request.getfixturevalue("fakes").reset()


class Accounting:
    """Reads the gateway's own per-provider token totals (what stats, metrics and events report)."""

    def __init__(self, server: GatewayServer) -> None:
        self.server = server
        self.before = self._totals()

    def _totals(self) -> dict[str, tuple[int, int, int]]:
        stats = self.server.app.state.gateway.observer.stats  # type: ignore[union-attr]
        snap = stats.snapshot(900, top=100)
        return {p["name"]: (p["requests"], p["prompt_tokens"], p["completion_tokens"]) for p in snap["by_provider"]}

    def delta(self, provider: str, requests: int = 1, timeout: float = 5.0) -> tuple[int, int]:
        """(prompt, completion) tokens booked for `provider` since creation, once `requests` more finished."""
        deadline = time.monotonic() + timeout
        base = self.before.get(provider, (0, 0, 0))
        while True:
            now = self._totals().get(provider, (0, 0, 0))
            if now[0] - base[0] >= requests or time.monotonic() > deadline:
                return now[1] - base[1], now[2] - base[2]
            time.sleep(0.01)


def last_json(fake: FakeOpenAI, path: str | None = None) -> Any:
    return fake.requests(path)[-1].json()


@pytest.fixture
def client() -> Iterator[Callable[..., openai.OpenAI]]:
    """Makes openai SDK clients for a gateway and closes them after the test (no leaked keep-alive sockets)."""
    made: list[openai.OpenAI] = []

    def make(gw: GatewayServer, key: str = KEY) -> openai.OpenAI:
        c = openai.OpenAI(base_url=gw.url + "/v1", api_key=key, max_retries=0)
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()
