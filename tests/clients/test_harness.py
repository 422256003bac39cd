"""The harness itself: installs fail loudly (never skip), a warm cache installs nothing, egress is caught."""

from __future__ import annotations

from pathlib import Path

import pytest

import urllib.error
import urllib.request

from tests.clients import install
from tests.clients.conftest import SentinelProxy


def test_unreachable_registry_is_a_clear_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(install, "CACHE", tmp_path / "clients")
    # A dead registry on loopback: the install must fail at once, naming the step and the likely cause.
    monkeypatch.setenv("npm_config_registry", "http://127.0.0.1:9/")
    monkeypatch.setenv("npm_config_fetch_retries", "0")
    monkeypatch.setenv("npm_config_cache", str(tmp_path / "npm-cache"))
    monkeypatch.setenv("npm_config_offline", "false")
    with pytest.raises(install.InstallError, match=r"npm install failed .*registry reachable"):
        install.ensure_clients()
    assert not list((tmp_path / "clients").glob(".installed-*"))  # nothing is stamped as installed


def test_warm_cache_installs_nothing(clients: install.Clients, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_install() -> None:
        raise AssertionError("a warm cache must not install again")

    monkeypatch.setattr(install, "_install", no_install)
    assert install.ensure_clients() == clients


def test_sentinel_proxy_catches_egress(sentinel: SentinelProxy) -> None:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({"http": sentinel.url}))
    before = len(sentinel.seen)
    with pytest.raises(urllib.error.HTTPError, match="403"):
        opener.open("http://example.invalid/telemetry", timeout=5)
    assert sentinel.seen[before:] == ["GET http://example.invalid/telemetry HTTP/1.1"]
    del sentinel.seen[before:]  # this escape was on purpose; the autouse check must not fail the test
