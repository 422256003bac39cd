"""No secret ever leaves in output or files: a real `crabllm serve` at every verbosity, greped whole.

Secrets: the admin token, two virtual keys, the provider's api_key, a wrong key a client sent, and
the keys issued (and rotated) through the admin API, whose secret may appear only in the one
HTTP response that created it.
"""

from __future__ import annotations

import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.cli.test_workers import free_port
from tests.fakes.openai_upstream import FakeOpenAI


def secret(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


def needles(value: str, prefix_len: int) -> list[bytes]:
    """The secret and every 10-character window of its random part (a partial leak counts too)."""
    tail = value[prefix_len:]
    return [value.encode(), *{tail[i:i + 10].encode() for i in range(len(tail) - 9)}]


def config(url: str, admin: str, key_a: str, key_b: str, provider_key: str) -> str:
    return f'''
admin_token = "{admin}"

[storage]
kind = "sqlite"
path = "state.db"

[providers.up]
kind = "openai"
base_url = "{url}"
api_key = "{provider_key}"
models = ["gpt-4o", "text-embedding-3-small"]
max_retries = 0

[[keys]]
name = "alpha"
key = "{key_a}"

[[keys]]
name = "beta"
key = "{key_b}"
models = ["gpt-4o"]

[extensions.audit]

[extensions.usage]

[extensions.logging]
format = "json"
log_bodies = false
'''


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    up = FakeOpenAI().start()
    yield up
    up.stop()


def serve(workdir: Path, port: int, flags: list[str]) -> subprocess.Popen[bytes]:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(workdir / "home"), "TMPDIR": str(workdir / "tmp"),
           "PYTHONUNBUFFERED": "1"}
    (workdir / "home").mkdir()
    (workdir / "tmp").mkdir()
    with open(workdir / "stdout.txt", "wb") as out, open(workdir / "stderr.txt", "wb") as err:
        proc = subprocess.Popen([sys.executable, "-m", "crabllm", *flags, "serve", "--config", "crabllm.toml",
                                 "--bind", f"127.0.0.1:{port}"], cwd=workdir, env=env, stdout=out, stderr=err,
                                stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=0.5).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise AssertionError((workdir / "stderr.txt").read_text())


def traffic(base: str, admin: str, key_a: str, key_b: str, wrong: str) -> list[str]:
    """Exercise every path that could log or store a secret; returns the secrets issued on the way."""
    issued = []
    chat = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hello"}]}
    with httpx.Client(base_url=base, timeout=10) as c:
        def as_key(k: str) -> dict[str, str]:
            return {"authorization": f"Bearer {k}"}

        admin_h = as_key(admin)
        assert c.post("/v1/chat/completions", json=chat, headers=as_key(key_a)).status_code == 200
        r = c.post("/v1/chat/completions", json={**chat, "stream": True}, headers=as_key(key_b))
        assert r.status_code == 200 and r.text.rstrip().endswith("[DONE]")
        r = c.post("/v1/embeddings", json={"model": "text-embedding-3-small", "input": "x"}, headers=as_key(key_a))
        assert r.status_code == 200
        assert c.post("/v1/embeddings", json={"model": "text-embedding-3-small", "input": "x"},
                      headers=as_key(key_b)).status_code == 403
        assert c.post("/v1/chat/completions", json=chat, headers=as_key(wrong)).status_code == 401
        assert c.post("/v1/chat/completions", json=chat, headers={"x-api-key": wrong}).status_code == 401
        assert c.get("/v1/admin/keys", headers=as_key(wrong)).status_code == 401
        assert c.get("/v1/models", headers=as_key(key_a)).status_code == 200

        assert c.get("/v1/admin/keys", headers=admin_h).status_code == 200
        r = c.post("/v1/admin/keys", json={"name": "issued"}, headers=admin_h)
        assert r.status_code == 201
        issued.append(r.json()["key"])
        assert c.post("/v1/chat/completions", json=chat, headers=as_key(issued[0])).status_code == 200
        r = c.post("/v1/admin/keys/issued/rotate", json={}, headers=admin_h)
        assert r.status_code == 200, r.text
        issued.append(r.json()["key"])
        assert issued[1] != issued[0]
        assert c.post("/v1/chat/completions", json=chat, headers=as_key(issued[1])).status_code == 200
        assert c.get("/v1/admin/keys", headers=admin_h).status_code == 200
        assert c.get("/v1/admin/keys/issued", headers=admin_h).status_code == 200
        assert c.post("/v1/admin/providers/up/test", headers=admin_h).status_code == 200
        for path in ("/v1/admin/stats", "/v1/admin/usage", "/v1/admin/config", "/v1/admin/keys", "/metrics"):
            r = c.get(path, headers=admin_h)
            assert r.status_code == 200, (path, r.text)
            assert not any(s in r.text for s in (admin, key_a, key_b, wrong, *issued)), path
        deadline = time.monotonic() + 5
        while True:  # audit records are written off the request path
            logs = c.get("/v1/admin/logs", headers=admin_h)
            assert logs.status_code == 200
            if len(logs.json()["data"]) >= 5 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert len(logs.json()["data"]) >= 5  # the five served requests (auth failures carry no model)
    return issued


def grep(paths: list[Path], secret_list: dict[str, tuple[str, int]]) -> list[str]:
    hits = []
    for path in paths:
        data = path.read_bytes()
        for name, (value, prefix_len) in secret_list.items():
            for needle in needles(value, prefix_len):
                if needle in data:
                    hits.append(f"{name} ({needle.decode()!r}) in {path.name}")
    return hits


@pytest.mark.parametrize("flags", [[], ["-v"], ["-vv"], ["-vvv"]], ids=["quiet", "v", "vv", "vvv"])
def test_no_secret_in_any_output_or_file(tmp_path: Path, fake: FakeOpenAI, flags: list[str]) -> None:
    admin, key_a, key_b = secret("sk-admin-"), secret("sk-alpha-"), secret("sk-beta-")
    provider_key, wrong = secret("sk-up-"), secret("sk-wrong-")
    cfg = tmp_path / "crabllm.toml"
    cfg.write_text(config(fake.base_url, admin, key_a, key_b, provider_key))
    port = free_port()
    proc = serve(tmp_path, port, flags)
    base = f"http://127.0.0.1:{port}"
    try:
        issued = traffic(base, admin, key_a, key_b, wrong)
        providers = httpx.get(base + "/v1/admin/providers", headers={"authorization": f"Bearer {admin}"}).json()
        one = httpx.get(base + "/v1/admin/providers/up", headers={"authorization": f"Bearer {admin}"}).json()
        # Sent upstream as it must be: the fake saw the provider key (and only it).
        assert {r.headers.get("Authorization") for r in fake.requests()} == {f"Bearer {provider_key}"}
        files_live = [p for p in tmp_path.rglob("*") if p.is_file() and p != cfg]
        assert {"state.db", "state.db-wal", "state.db-shm"} <= {p.name for p in files_live}
        tracked = {"admin token": (admin, 9), "key alpha": (key_a, 9), "key beta": (key_b, 8),
                   "provider api_key": (provider_key, 6), "wrong key": (wrong, 9),
                   **{f"issued key {i}": (k, 0) for i, k in enumerate(issued)}}
        hits_live = grep(files_live, tracked)  # the sqlite db with its -wal and -shm while they exist
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    for shown in (providers, one):
        assert provider_key not in str(shown) and provider_key[6:16] not in str(shown)
    row = next(p for p in providers["data"] if p["name"] == "up") if isinstance(providers, dict) else providers[0]
    assert row["api_key"] != provider_key and row["api_key"] is not None
    files = [p for p in tmp_path.rglob("*") if p.is_file() and p != cfg]
    hits = hits_live + grep(files, tracked)
    assert (tmp_path / "stderr.txt").stat().st_size > 0 or not flags  # the verbose runs did log
    assert hits == [], hits
