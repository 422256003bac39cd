"""Per-request cost of tracing: what the off path adds (ns), and a traced request's two spans (µs).

Run: .venv/bin/python -m bench.tracing
"""

from __future__ import annotations

import asyncio
import sys
import time
import timeit
from pathlib import Path
from typing import Any

if __name__ == "__main__" and not __package__:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from crabllm.server.http import Exchange  # noqa: E402
from crabllm.server.observe.observer import Observer  # noqa: E402
from crabllm.telemetry.context import ACTIVE  # noqa: E402

SCOPE: dict[str, Any] = {"type": "http", "method": "POST", "path": "/v1/chat/completions",
                         "headers": [(b"authorization", b"Bearer sk-x"), (b"content-type", b"application/json")]}
REPLY = (b'{"id":"c","object":"chat.completion","model":"gpt-4o-2024-08-06","choices":[],'
         b'"usage":{"prompt_tokens":11,"completion_tokens":7}}', None)


def _added_off(ex: Any, obs: Any) -> None:
    """Exactly the statements tracing adds to one request while it is off."""
    ex.trace = None  # Exchange.__init__
    if obs.tracer is not None:  # Observer.begin
        raise AssertionError
    trace = ACTIVE.get()  # routing.dispatch, once
    if trace is not None:  # routing.dispatch, per attempt
        raise AssertionError
    if ex.trace is not None:  # Observer.finish
        raise AssertionError


def _baseline(ex: Any, obs: Any) -> None:
    return None


def off_ns(n: int = 2_000_000) -> float:
    ex, obs = Exchange(SCOPE, None, None), Observer()
    added = min(timeit.repeat(lambda: _added_off(ex, obs), number=n, repeat=5))
    base = min(timeit.repeat(lambda: _baseline(ex, obs), number=n, repeat=5))
    return (added - base) / n * 1e9


class _Response:
    status = 200

    async def __aenter__(self) -> _Response:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        return None

    async def read(self) -> bytes:
        return b""


class _NullSession:
    """Takes the exporter's POSTs without a network: the OTLP encoding still runs, on the event loop."""

    def __init__(self) -> None:
        self.bytes = 0

    def post(self, url: str, *, data: bytes, **kw: Any) -> _Response:
        self.bytes += len(data)
        return _Response()


class _Provider:
    name, kind, base_url = "openai-main", "openai", "https://api.openai.com/v1"


async def _requests(tel: Any, n: int) -> None:
    provider = _Provider()

    async def call(p: Any) -> Any:
        return REPLY

    for _ in range(n):
        ex = Exchange(SCOPE, None, None)
        if tel is not None:
            tel.start(ex)
        ex.model = "gpt-4o"
        if tel is not None:
            await ex.trace.attempt(call, provider, "gpt-4o", 1, 0)
        else:
            await call(provider)
        ex.status, ex.provider, ex.prompt_tokens, ex.completion_tokens = 200, "openai-main", 11, 7
        if tel is not None:
            ex.trace.end(ex)
        await asyncio.sleep(0)  # a real request yields to the loop; so the exporter gets its turns
    if tel is not None:
        await tel.stop()  # the encoding of every span counts


def on_us(ratio: float, n: int = 20_000) -> tuple[float, int]:
    from crabllm.config.schema import TelemetryConfig
    from crabllm.telemetry.tracer import Telemetry

    best, sent = float("inf"), 0
    for _ in range(3):
        session = _NullSession()
        tel = Telemetry(TelemetryConfig(sample_ratio=ratio), session)
        t0 = time.perf_counter()
        asyncio.run(_requests(tel, n))
        traced = time.perf_counter() - t0
        t0 = time.perf_counter()
        asyncio.run(_requests(None, n))
        base = time.perf_counter() - t0
        best, sent = min(best, (traced - base) / n * 1e6), tel.exporter.exported
    return best, sent


_BODY = b'{"model":"mock-gpt","messages":[{"role":"user","content":"hi"}]}'
_E2E_SCOPE: dict[str, Any] = {"type": "http", "method": "POST", "path": "/v1/chat/completions",
                              "headers": [(b"content-type", b"application/json"),
                                          (b"content-length", str(len(_BODY)).encode())]}


async def _e2e(mode: str, n: int) -> float:
    """µs per whole chat request through Proxy.chat to the built-in mock provider, in process."""
    import tempfile

    import msgspec

    from crabllm.config.schema import Config
    from crabllm.config.secret import dec_hook
    from crabllm.server.proxy.chat import Proxy
    from crabllm.server.runtime import Gateway, new_session
    from crabllm.storage.factory import open_storage

    raw: dict[str, Any] = {"providers": {"mock": {"kind": "mock", "models": ["mock-gpt"]}}}
    if mode != "off":
        raw["telemetry"] = {"endpoint": "http://127.0.0.1:9/v1/traces", "sample_ratio": 1.0 if mode == "on" else 0.0}
    storage = await open_storage("memory", None, base_dir=Path(tempfile.gettempdir()))
    session = new_session()
    gw = Gateway(msgspec.convert(raw, Config, dec_hook=dec_hook), session, storage,
                 config_path=str(Path(tempfile.gettempdir()) / "crabllm-bench.toml"), seed=1)
    if gw.telemetry.current is not None:
        gw.telemetry.current.exporter._session = _NullSession()
    proxy = Proxy(gw)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": _BODY, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        return None

    for _ in range(200):
        await proxy.chat(_E2E_SCOPE, receive, send)
    t0 = time.perf_counter()
    for _ in range(n):
        await proxy.chat(_E2E_SCOPE, receive, send)
    await gw.telemetry.stop()
    elapsed = time.perf_counter() - t0
    await session.close()
    await storage.close()
    return elapsed / n * 1e6


def e2e(rounds: int = 5, n: int = 10_000) -> dict[str, float]:
    best: dict[str, float] = {}
    for _ in range(rounds):  # interleaved, best of each: this machine is shared and noisy
        for mode in ("off", "ratio0", "on"):
            best[mode] = min(best.get(mode, float("inf")), asyncio.run(_e2e(mode, n)))
    return best


def main() -> None:
    print(f"off: {off_ns():.1f} ns added per request (one attempt)")
    us, spans = on_us(1.0)
    print(f"on, sampled (ratio 1.0): {us:.1f} µs per request (SERVER + CLIENT span, OTLP encoding included; "
          f"{spans} spans exported)")
    us, spans = on_us(0.0)
    print(f"on, not sampled (ratio 0.0): {us:.1f} µs per request ({spans} spans exported)")
    best = e2e()
    print("whole chat request in process (Proxy.chat -> mock provider), best of 5: "
          + ", ".join(f"{mode} {us:.1f} µs" for mode, us in best.items()))


if __name__ == "__main__":
    main()
