"""The `crabllm` command as a user runs it: help, init, startup errors, first run, graceful drain."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from crabllm import __version__

CRABLLM = [sys.executable, "-m", "crabllm"]


def run(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CRABLLM, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_version_and_help(tmp_path: Path) -> None:
    r = run("--version", cwd=tmp_path)
    assert r.returncode == 0 and __version__ in r.stdout
    for cmd in ([], ["serve"], ["init"]):
        r = run(*cmd, "--help", cwd=tmp_path)
        assert r.returncode == 0 and "usage: crabllm" in r.stdout


def test_init_writes_0600_and_refuses_overwrite(tmp_path: Path) -> None:
    r = run("init", "--out", "sub/dir/c.toml", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    path = tmp_path / "sub/dir/c.toml"
    assert path.stat().st_mode & 0o777 == 0o600
    text = path.read_text()
    assert "admin token: sk-" in r.stderr and r.stderr.split("default key: ")[1][:67] in text
    r = run("init", "--out", "sub/dir/c.toml", cwd=tmp_path)
    assert r.returncode == 1 and "already exists" in r.stderr and "--force" in r.stderr
    r = run("init", "--out", "sub/dir/c.toml", "--force", cwd=tmp_path)
    assert r.returncode == 0 and path.read_text() != text


@pytest.mark.parametrize("toml, env, needles", [
    ("listen = \n", {}, ["invalid TOML", "line 1"]),
    ('[providers.p]\nkind = "openai"\nmodel = ["x"]\n', {}, ["providers.p.model", "unknown field"]),
    ('[providers.p]\napi_key = "${CRAB_TEST_UNSET_VAR}"\n', {}, ["providers.p.api_key", "CRAB_TEST_UNSET_VAR", "export"]),
    ('[providers.p]\nkind = "groq"\n', {}, ["providers.p.base_url", "requires a base_url"]),
    ('[providers.p]\nkind = "google"\n', {}, ["providers.p.api_key", "requires an api_key"]),
])
def test_startup_errors_are_one_clear_line(tmp_path: Path, toml: str, env: dict[str, str], needles: list[str]) -> None:
    (tmp_path / "c.toml").write_text(toml)
    r = run("serve", "--config", "c.toml", "--bind", f"127.0.0.1:{free_port()}", cwd=tmp_path, env=env)
    assert r.returncode == 1
    errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, r.stderr
    assert "c.toml" in errors[0] and "fix:" in errors[0]
    for needle in needles:
        assert needle in errors[0]
    assert "Traceback" not in r.stderr


def test_port_in_use(tmp_path: Path) -> None:
    (tmp_path / "c.toml").write_text("")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        r = run("serve", "--config", "c.toml", "--bind", f"127.0.0.1:{port}", cwd=tmp_path)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in r.stderr and "--bind" in r.stderr


def test_storage_that_does_not_answer_is_one_clear_line(tmp_path: Path) -> None:
    dead = free_port()  # nothing listens there
    (tmp_path / "c.toml").write_text(f'[storage]\nkind = "redis"\npath = "redis://127.0.0.1:{dead}/0"\n')
    r = run("serve", "--config", "c.toml", "--bind", f"127.0.0.1:{free_port()}", cwd=tmp_path)
    errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert r.returncode == 1 and len(errors) == 1 and "Traceback" not in r.stderr, r.stderr
    assert "storage" in errors[0] and str(dead) in errors[0] and "fix:" in errors[0]


def start_server(tmp_path: Path, *args: str) -> tuple[subprocess.Popen[str], str]:
    port = free_port()
    proc = subprocess.Popen([*CRABLLM, *args, "--bind", f"127.0.0.1:{port}"], cwd=tmp_path, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/health", timeout=0.5).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.05)
    proc.kill()
    raise AssertionError(proc.stderr.read() if proc.stderr else "no output")


def test_first_run_writes_starter_config_and_serves_the_mock(tmp_path: Path) -> None:
    proc, url = start_server(tmp_path, "serve")
    try:
        text = (tmp_path / "crabllm.toml").read_text()
        key = text.split('key = "')[1].split('"')[0]
        r = httpx.post(url + "/v1/chat/completions", headers={"authorization": f"Bearer {key}"},
                       json={"model": "mock-gpt", "messages": [{"role": "user", "content": "hello crab"}]})
        assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"] == "hello crab"
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=15)
    assert proc.returncode == 0
    assert "generating a starter config" in err and "sk-" not in err.split("keep them safe.")[1]


def test_sigterm_drains_an_open_stream(tmp_path: Path) -> None:
    (tmp_path / "c.toml").write_text('shutdown_timeout = 10\n[providers.m]\nkind = "mock"\nmodels = ["m"]\n'
                                     'mock_chunks = 10\nmock_chunk_delay_ms = 100\n')
    proc, url = start_server(tmp_path, "serve", "--config", "c.toml")
    try:
        with httpx.Client(timeout=10) as c:
            with c.stream("POST", url + "/v1/chat/completions",
                          json={"model": "m", "stream": True, "messages": [{"role": "user", "content": "a b c d e f g h i j"}]}) as r:
                body = b""
                for i, chunk in enumerate(r.iter_raw()):
                    if i == 0:
                        proc.send_signal(signal.SIGTERM)
                    body += chunk
        assert body.endswith(b"data: [DONE]\n\n") and body.count(b'"content"') == 10
    finally:
        proc.communicate(timeout=15)
    assert proc.returncode == 0


def test_sigterm_ends_admin_event_feeds_at_once(tmp_path: Path) -> None:
    admin = "sk-admin-feed-0123456789"
    (tmp_path / "c.toml").write_text(f'admin_token = "{admin}"\nshutdown_timeout = 20\n[providers.m]\nkind = "mock"\nmodels = ["m"]\n')
    proc, url = start_server(tmp_path, "serve", "--config", "c.toml")
    try:
        with httpx.Client(timeout=10) as c:
            with c.stream("GET", url + "/v1/admin/events", headers={"authorization": f"Bearer {admin}"}) as r:
                assert r.status_code == 200
                started = time.monotonic()
                proc.send_signal(signal.SIGTERM)
                for _ in r.iter_raw():
                    pass  # the server ends the feed
        proc.communicate(timeout=15)
        assert time.monotonic() - started < 5
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0
