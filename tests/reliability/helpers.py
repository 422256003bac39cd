"""Helpers of the fault tests: a gateway with a faulty and a healthy model, and the checks that
nothing but the faulty request was affected."""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path
from typing import Any

import httpx
from tests.conftest import ADMIN, KEY
from tests.fakes.gateway import GatewayServer
from tests.fakes.openai_upstream import FakeOpenAI, wait_for

CHAT = "/v1/chat/completions"
TOKENS = 18  # the fake's usage per reply: 11 + 7
EXTENSIONS = """
[extensions.usage]

[extensions.rate_limit]
requests_per_minute = 1000000
tokens_per_minute = 1000000000
"""


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def provider(name: str, url: str, model: str = "m", *, retries: int = 0, timeout: float = 5.0, weight: int = 1) -> str:
    return (f'[providers.{name}]\nbase_url = "{url}"\nmodels = ["{model}"]\nmax_retries = {retries}\n'
            f"timeout = {timeout}\nweight = {weight}\n\n")


def start(make_gateway: Any, healthy: FakeOpenAI, *providers: str, ext: bool, breaker: bool = True) -> GatewayServer:
    """A gateway with `providers` for model "m" and the healthy upstream for "ok". `breaker=False`
    turns the circuit breaker off, for tests that count every retry of a storm exactly."""
    toml = (f'admin_token = "{ADMIN}"\n\n' + "".join(providers) + provider("healthy", healthy.base_url, "ok")
            + f'[[keys]]\nname = "k"\nkey = "{KEY}"\n' + (EXTENSIONS if ext else "")
            + ("" if breaker else "\n[circuit_breaker]\nenabled = false\n"))
    return make_gateway(toml)


def chat(gw: GatewayServer, model: str = "m", **body: Any) -> httpx.Response:
    with gw.client(KEY) as c:
        return c.post(CHAT, json={"model": model, "messages": [{"role": "user", "content": "hi"}], **body})


def events(text: str) -> list[str]:
    """The data of each complete SSE event, parsed line by line as an EventSource does."""
    out: list[str] = []
    data: list[str] = []
    for line in text.replace("\r\n", "\n").split("\n"):
        if not line:
            if data:
                out.append("\n".join(data))
            data = []
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
    return out  # an event without its closing blank line is dropped, as the spec says


def established_to(port: int) -> int:
    """Open (ESTABLISHED) TCP connections from this machine to 127.0.0.1:port, from /proc/net/tcp."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if int(fields[2].rsplit(":", 1)[1], 16) == port and fields[3] == "01":
                count += 1
    return count


def stream_text(evs: list[str]) -> str:
    out = []
    for e in evs:
        if e.startswith("{"):
            chunk = json.loads(e)
            out += [c["delta"].get("content") or "" for c in chunk.get("choices") or []]
    return "".join(out)


def assert_envelope(r: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    """A final gateway error: the OpenAI envelope, and a hint that SDKs must not retry on top of us."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    error = r.json()["error"]
    assert set(error) >= {"message", "type", "param", "code"} and error["message"]
    if code is not None:
        assert error["code"] == code
    assert r.headers.get("x-should-retry") == "false" or "retry-after" in r.headers
    return error


def in_gateway(gw: GatewayServer, coro_fn: Any) -> Any:
    """Run `coro_fn(gateway_state)` on the gateway thread's event loop and return its result."""
    return asyncio.run_coroutine_threadsafe(coro_fn(gw.app.state.gateway), gw.app.state.loop).result(5)


def rate_counters(gw: GatewayServer) -> dict[str, int]:
    """Rate-limit counters of key "k" summed over all minutes: {"r": admitted requests, "t": tokens}."""
    rows = in_gateway(gw, lambda state: state.storage.list("rl/k/"))
    out = {"r": 0, "t": 0}
    for name, value in rows:
        out[name.split("/")[2]] += int(value)
    return out


def admin_get(gw: GatewayServer, path: str) -> Any:
    r = httpx.get(gw.url + path, headers={"authorization": f"Bearer {ADMIN}"}, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def assert_unaffected(gw: GatewayServer, ext: bool, *, admitted: int, served: dict[str, tuple[int, int]] | None = None,
                      stream: bool = False) -> None:
    """A normal request to "ok" still succeeds; nothing stays in flight; with extensions on, usage holds
    exactly `served` ({model: (requests, tokens)}) plus this request, and the rate limiter admitted
    `admitted` requests before it and counted only the served tokens."""
    r = chat(gw, "ok", stream=stream)
    assert r.status_code == 200
    assert (stream_text(events(r.text)) if stream else r.json()["choices"][0]["message"]["content"])
    assert wait_for(lambda: admin_get(gw, "/v1/admin/stats")["inflight"] == 0, 5)
    assert admin_get(gw, "/v1/admin/stats")["streams"] == 0
    if not ext:
        return
    expected = {**(served or {})}
    requests, tokens = expected.get("ok", (0, 0))
    expected["ok"] = (requests + 1, tokens + TOKENS)
    usage = {row["model"]: (row["requests"], row["total_tokens"]) for row in admin_get(gw, "/v1/admin/usage")["data"]}
    assert usage == expected
    assert rate_counters(gw) == {"r": admitted + 1, "t": sum(t for _, t in expected.values())}
