"""Fixtures for the real-client suite: installed clients, a scripted upstream, the gateway, a sealed env."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.clients.install import INSTALL_TIMEOUT, Clients, InstallError, ensure_clients
from tests.clients.results import record_outcome, write_results
from tests.clients.scripted import ScriptedUpstream
from tests.fakes.gateway import GatewayServer

KEY = "sk-clients-" + "k" * 53
UPSTREAM_ANTHROPIC_KEY = "sk-ant-upstream-secret"
UPSTREAM_OPENAI_KEY = "sk-oai-upstream-secret"
#: Served by the Anthropic deployment (pass-through on /v1/messages).
CLAUDE = "claude-sonnet-4-5"
#: Served by the OpenAI-format deployment (pass-through on chat, translated on /v1/messages).
GPT = "gpt-4o"
#: Served by an OpenAI-compatible chat-only deployment (vLLM, Ollama…): /v1/responses is translated to chat.
LLAMA = "llama-3.1-8b"
CALL_TIMEOUT = 90
SCRIPTS = Path(__file__).parent / "scripts"
#: Where sealed_env finds the sentinel proxy's URL (set per test by the `no_egress` fixture).
PROXY_ENV = "CRABLLM_CLIENTS_SENTINEL"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.clients)
            # The first test also pays the one-time install; every client call has its own CALL_TIMEOUT.
            item.add_marker(pytest.mark.timeout(INSTALL_TIMEOUT + 4 * CALL_TIMEOUT))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    record_outcome(item, outcome.get_result())


def pytest_sessionfinish(session: pytest.Session) -> None:
    write_results(session)


class SentinelProxy:
    """A loopback HTTP proxy that refuses everything and records what was asked of it.

    Every client gets it as HTTP(S)_PROXY, so a call that would leave 127.0.0.1 through a
    proxy-aware stack is stopped here and named in the test's failure instead of reaching the internet."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.seen: list[str] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(2)
                try:
                    self.seen.append(conn.recv(4096).decode("latin-1").split("\r\n", 1)[0])
                    conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                except OSError:
                    pass

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(scope="session")
def sentinel() -> Iterator[SentinelProxy]:
    proxy = SentinelProxy()
    yield proxy
    proxy.close()


@pytest.fixture(autouse=True)
def no_egress(sentinel: SentinelProxy, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fail any client test during which a client tried to reach a host other than loopback."""
    monkeypatch.setenv(PROXY_ENV, sentinel.url)
    before = len(sentinel.seen)
    yield
    tried = sentinel.seen[before:]
    assert not tried, f"a client tried to leave 127.0.0.1: {tried}"


@pytest.fixture(scope="session")
def clients() -> Clients:
    try:
        return ensure_clients()
    except InstallError as e:
        # A missing client is a failure, never a silent skip: CI must notice a broken registry or pin.
        pytest.fail(f"could not install the client programs into .cache/clients/: {e}", pytrace=False)


@pytest.fixture
def upstream() -> Iterator[ScriptedUpstream]:
    fake = ScriptedUpstream().start()
    yield fake
    fake.stop()


def gateway_toml(upstream: ScriptedUpstream) -> str:
    return f'''
[providers.anthropic]
kind = "anthropic"
base_url = "{upstream.origin}"
api_key = "{UPSTREAM_ANTHROPIC_KEY}"
models = ["{CLAUDE}"]
max_retries = 0
timeout = 30

[providers.openai]
kind = "openai"
base_url = "{upstream.origin}/v1"
api_key = "{UPSTREAM_OPENAI_KEY}"
models = ["{GPT}"]
max_retries = 0
timeout = 30

[providers.vllm]
kind = "openai"
base_url = "{upstream.origin}/v1"
api_key = "{UPSTREAM_OPENAI_KEY}"
models = ["{LLAMA}"]
responses = false
max_retries = 0
timeout = 30

[[keys]]
name = "clients"
key = "{KEY}"
models = ["*"]
'''


class ClientLog:
    """ASGI middleware recording each HTTP request a client sent to the gateway (path and headers)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, str]]] = []

    def wrap(self, app: Any) -> Any:
        async def recorded(scope: dict[str, Any], receive: Any, send: Any) -> None:
            if scope["type"] == "http":
                headers: dict[str, str] = {}
                for k, v in scope["headers"]:
                    name = k.decode("latin-1").lower()
                    headers[name] = f"{headers[name]},{v.decode('latin-1')}" if name in headers else v.decode("latin-1")
                self.seen.append((scope["path"], headers))
            await app(scope, receive, send)
        return recorded

    def headers(self, path: str) -> list[dict[str, str]]:
        return [h for p, h in self.seen if p == path]


@pytest.fixture
def client_log() -> ClientLog:
    return ClientLog()


@pytest.fixture
def gateway(upstream: ScriptedUpstream, client_log: ClientLog, tmp_path: Path) -> Iterator[GatewayServer]:
    path = tmp_path / "crabllm.toml"
    path.write_text(gateway_toml(upstream))
    server = GatewayServer(path, wrap=client_log.wrap).start()
    yield server
    server.stop()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


def sealed_env(home: Path, **extra: str) -> dict[str, str]:
    """A minimal environment: a temp HOME, no inherited keys or proxies, loopback-only networking."""
    proxy = os.environ.get(PROXY_ENV, "http://127.0.0.1:9")  # a dead port when no sentinel is running
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "TMPDIR": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "HTTP_PROXY": proxy, "HTTPS_PROXY": proxy, "ALL_PROXY": proxy,
        "http_proxy": proxy, "https_proxy": proxy, "all_proxy": proxy,
        "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost",
        "NO_COLOR": "1",
        "TERM": "dumb",
    }
    env.update(extra)
    return env


@dataclass
class Ran:
    stdout: str
    stderr: str
    returncode: int

    def json(self) -> Any:
        """The last stdout line that parses as JSON (clients may print banners before it)."""
        for line in reversed(self.stdout.strip().splitlines()):
            try:
                return json.loads(line)
            except ValueError:
                continue
        raise AssertionError(f"no JSON in the client's output:\nstdout: {self.stdout[-3000:]}\n"
                             f"stderr: {self.stderr[-3000:]}")


def run(cmd: list[str], env: dict[str, str], *, cwd: Path, timeout: float = CALL_TIMEOUT,
        stdin: str | None = None) -> Ran:
    try:
        proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                              input=stdin if stdin is not None else "")
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        err = e.stderr.decode() if isinstance(e.stderr, bytes) else (e.stderr or "")
        raise AssertionError(f"{cmd[0]} timed out after {timeout}s\nstdout: {out[-3000:]}\nstderr: {err[-3000:]}") \
            from None
    ran = Ran(proc.stdout, proc.stderr, proc.returncode)
    assert proc.returncode == 0, f"{' '.join(cmd[:3])} exited {proc.returncode}\nstdout: {proc.stdout[-4000:]}\n" \
                                 f"stderr: {proc.stderr[-4000:]}"
    return ran


def run_script(clients: Clients, name: str, args: dict[str, Any], home: Path, **env: str) -> Any:
    """Run tests/clients/scripts/<name>.py in the clients' venv; it prints one JSON object."""
    return run([str(clients.python), str(SCRIPTS / f"{name}.py"), json.dumps(args)],
               sealed_env(home, **env), cwd=home).json()


#: An OpenAI-format client's model: the OpenAI deployment (pass-through) or the Anthropic one (translated).
OPENAI_CLIENT_MODELS = [
    pytest.param(GPT, marks=pytest.mark.clients(mode="pass-through"), id="pass-through"),
    pytest.param(CLAUDE, marks=pytest.mark.clients(mode="translated (to Anthropic)"), id="translated"),
]


def upstream_path(model: str) -> str:
    """Where a chat request for `model` lands on the scripted upstream."""
    return "/v1/messages" if model == CLAUDE else "/v1/chat/completions"


def call_id(model: str) -> str:
    """The tool call id the scripted upstream gives in the format `model` is served in."""
    return "toolu_scripted1" if model == CLAUDE else "call_scripted1"
