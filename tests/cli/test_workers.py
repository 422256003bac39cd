"""Several processes sharing storage: a revoked key stops working everywhere within 2 seconds."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

from tests.storage.conftest import redis_gate, redis_reachable

ADMIN = "sk-admin-workers-0123456789"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(config: Path, port: int, *extra: str) -> subprocess.Popen[bytes]:
    log = config.with_name(f"gateway-{port}.log")
    with open(log, "wb") as err:
        proc = subprocess.Popen([sys.executable, "-m", "crabllm", "serve", "--config", str(config),
                                 "--bind", f"127.0.0.1:{port}", *extra], stdout=subprocess.DEVNULL, stderr=err)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=0.5).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise AssertionError(log.read_text())


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()


def config(tmp_path: Path, storage: str) -> Path:
    path = tmp_path / "c.toml"
    path.write_text(f'admin_token = "{ADMIN}"\n{storage}\n[providers.m]\nkind = "mock"\nmodels = ["m"]\n')
    return path


def revocation_reaches_every_process(urls: list[str]) -> None:
    name = "k" + uuid.uuid4().hex[:8]
    admin = {"authorization": f"Bearer {ADMIN}"}
    secret = httpx.post(urls[0] + "/v1/admin/keys", json={"name": name}, headers=admin).json()["key"]
    auth = {"authorization": f"Bearer {secret}"}

    def statuses() -> set[int]:
        # many requests per URL so that every worker behind a shared port is hit
        return {httpx.post(u + "/v1/chat/completions", json={"model": "m", "messages": []}, headers=auth).status_code
                for u in urls for _ in range(12)}

    time.sleep(1.5)
    assert statuses() == {200}
    assert httpx.delete(urls[-1] + f"/v1/admin/keys/{name}", headers=admin).status_code == 204
    time.sleep(2.0)
    assert statuses() == {401}


def test_sqlite_two_workers(tmp_path: Path) -> None:
    port = free_port()
    proc = start(config(tmp_path, '[storage]\nkind = "sqlite"\npath = "state.db"'), port, "--workers", "2")
    try:
        revocation_reaches_every_process([f"http://127.0.0.1:{port}"])
    finally:
        stop(proc)
    assert proc.returncode == 0


def test_redis_two_gateways(tmp_path: Path) -> None:
    redis_gate(redis_reachable(), os.environ)
    path = config(tmp_path, '[storage]\nkind = "redis"\npath = "redis://127.0.0.1:6379/0"')
    ports = [free_port(), free_port()]
    procs = [start(path, p) for p in ports]
    try:
        revocation_reaches_every_process([f"http://127.0.0.1:{p}" for p in ports])
    finally:
        for p in procs:
            stop(p)


def test_workers_refuse_memory_storage(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "crabllm", "serve", "--config", str(config(tmp_path, "")),
                        "--workers", "2", "--bind", f"127.0.0.1:{free_port()}"], capture_output=True, text=True, timeout=20)
    assert r.returncode == 1 and "needs shared storage" in r.stderr
