"""Secure defaults of `crabllm serve`: no open gateway on a public address by accident."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.cli.test_cli import free_port


def test_refuses_public_address_without_auth(tmp_path: Path) -> None:
    (tmp_path / "c.toml").write_text('[providers.m]\nkind = "mock"\nmodels = ["m"]\n')
    r = subprocess.run([sys.executable, "-m", "crabllm", "serve", "--config", "c.toml", "--bind", f"0.0.0.0:{free_port()}"],
                       cwd=tmp_path, capture_output=True, text=True, timeout=20)
    assert r.returncode == 1 and "refusing to listen" in r.stderr and "--insecure" in r.stderr


def test_insecure_flag_allows_it(tmp_path: Path) -> None:
    (tmp_path / "c.toml").write_text('[providers.m]\nkind = "mock"\nmodels = ["m"]\n')
    port = free_port()
    with open(tmp_path / "log", "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "crabllm", "serve", "--config", "c.toml", "--insecure",
                                 "--bind", f"0.0.0.0:{port}"], cwd=tmp_path, stderr=log)
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=0.5).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.05)
        assert httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", json={"model": "m", "messages": []}).status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(15)
