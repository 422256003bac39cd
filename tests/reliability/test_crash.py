"""kill -9 a worker under load: the other keeps serving, the supervisor restarts it, and the usage
counted in sqlite loses at most what was in flight on the killed worker."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from pathlib import Path

import httpx

from tests.cli.test_workers import free_port, start, stop

ADMIN = "sk-admin-crash-0123456789"
KEY = "sk-crash-0123456789abcdef"
CONCURRENCY = 50
LOAD_SECONDS = 4.0
KILL_AT = 1.0
OUTAGE = 1.0  # the supervisor is held (SIGSTOP) this long, so only the surviving worker can answer


def workers(supervisor: int) -> list[int]:
    """Live worker processes of `crabllm serve --workers N`: the supervisor's spawned children."""
    kids: list[int] = []
    for task in Path(f"/proc/{supervisor}/task").iterdir():
        with contextlib.suppress(OSError):
            kids += [int(pid) for pid in (task / "children").read_text().split()]
    out = []
    for pid in kids:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if b"spawn_main" in cmdline and state not in ("Z", "X"):
            out.append(pid)
    return sorted(out)


async def wait_until(predicate: object, limit: float) -> bool:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        await asyncio.sleep(0.02)
    return bool(predicate())  # type: ignore[operator]


async def load(url: str, until: float, results: list[tuple[float, float, bool]]) -> None:
    """CONCURRENCY clients back to back until `until`; each result is (sent, done, ok)."""
    body = {"model": "m", "messages": [{"role": "user", "content": "a b c"}]}
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=url, timeout=5, limits=limits,
                                 headers={"authorization": f"Bearer {KEY}"}) as c:
        async def client() -> None:
            while time.monotonic() < until:
                sent = time.monotonic()
                try:
                    ok = (await c.post("/v1/chat/completions", json=body)).status_code == 200
                except httpx.HTTPError:
                    ok = False
                results.append((sent, time.monotonic(), ok))

        await asyncio.gather(*(client() for _ in range(CONCURRENCY)))


def usage_requests(url: str) -> int:
    r = httpx.get(url + "/v1/admin/usage", params={"key": "crash"}, headers={"authorization": f"Bearer {ADMIN}"})
    assert r.status_code == 200, r.text
    return sum(row["requests"] for row in r.json()["data"])


async def test_kill_9_a_worker_under_load(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'''admin_token = "{ADMIN}"

[storage]
kind = "sqlite"
path = "state.db"

[providers.m]
kind = "mock"
models = ["m"]
mock_latency_ms = 5

[[keys]]
name = "crash"
key = "{KEY}"

[extensions.usage]
''')
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = start(cfg, port, "--workers", "2")
    seen: set[int] = set()
    try:
        assert await wait_until(lambda: len(workers(proc.pid)) == 2, 10)
        seen.update(workers(proc.pid))
        results: list[tuple[float, float, bool]] = []
        began = time.monotonic()
        traffic = asyncio.ensure_future(load(url, began + LOAD_SECONDS, results))
        await asyncio.sleep(KILL_AT)
        victim, survivor = workers(proc.pid)
        os.kill(proc.pid, signal.SIGSTOP)
        try:
            os.kill(victim, signal.SIGKILL)
            killed = time.monotonic()
            await asyncio.sleep(OUTAGE)
            assert workers(proc.pid) == [survivor]  # the outage was real: one worker left
        finally:
            os.kill(proc.pid, signal.SIGCONT)
        held = time.monotonic()
        # The supervisor brings the count back with a new process.
        assert await wait_until(lambda: len(workers(proc.pid)) == 2 and victim not in workers(proc.pid), 15)
        seen.update(workers(proc.pid))
        await asyncio.wait_for(traffic, LOAD_SECONDS + 10)
        ok = [r for r in results if r[2]]
        failed = [r for r in results if not r[2]]
        # During the outage the survivor kept answering...
        assert sum(1 for _, done, good in results if good and killed + 0.1 < done < held) >= 10
        # ...only requests caught on the killed worker failed, and everything sent later succeeded.
        assert len(failed) <= CONCURRENCY, len(failed)
        assert all(good for sent, _, good in results if sent > killed + 0.5)
        assert len(ok) > 100
        # No usage is lost beyond what was in flight on the killed worker, and none is invented.
        counted = 0

        def settled() -> bool:
            nonlocal counted
            counted = usage_requests(url)
            return counted >= len(ok)

        await wait_until(settled, 3)
        assert len(ok) - CONCURRENCY <= counted <= len(ok), (counted, len(ok), len(failed))
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGCONT)
        seen.update(workers(proc.pid) if proc.poll() is None else [])
        stop(proc)
        for pid in seen:  # a worker the supervisor could not stop must not outlive the test
            if is_worker_of(pid, cfg):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


def is_worker_of(pid: int, cfg: Path) -> bool:
    """Still a worker of this test's gateway (not a recycled pid)?"""
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return False
    return f"CRABLLM_CONFIG={cfg.resolve()}".encode() in environ
