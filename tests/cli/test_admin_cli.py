"""The admin CLI (keys, providers, usage, reload) against a real gateway: output, TOML edits, precedence, errors."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from crabllm.cli.admin import add_admin_parsers, run_admin
from tests.conftest import ADMIN, KEY, basic_config
from tests.fakes.gateway import GatewayServer
from tests.fakes.openai_upstream import FakeOpenAI

DEAD_URL = "http://127.0.0.1:9"  # discard port: nothing listens there


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Run `crabllm ARGS` in-process from an empty directory with no CRABLLM_* variables."""
    home = tmp_path / "cwd"
    home.mkdir()
    monkeypatch.chdir(home)
    monkeypatch.delenv("CRABLLM_URL", raising=False)
    monkeypatch.delenv("CRABLLM_TOKEN", raising=False)

    def run(*argv: str) -> tuple[int, str, str]:
        parser = argparse.ArgumentParser(prog="crabllm")
        add_admin_parsers(parser.add_subparsers(dest="command"))
        code = run_admin(parser.parse_args(list(argv)))
        out, err = capsys.readouterr()
        return code, out, err

    return run


def on(gw: GatewayServer, *more: str) -> list[str]:
    return ["--url", gw.url, "--token", ADMIN, *more]


def test_key_lifecycle(cli, gateway: GatewayServer) -> None:
    code, out, err = cli("keys", "create", "svc", "--models", "gpt-4o", "--rpm", "5", "--expires-in", "3600", *on(gateway))
    assert code == 0, err
    secret = out.split("key: ")[1].strip()
    assert secret.startswith("sk-") and "shown only once" in err
    with gateway.client(secret) as c:
        assert c.post("/v1/chat/completions", json={"model": "gpt-4o", "messages": []}).status_code == 200

    code, out, _ = cli("keys", "list", *on(gateway))
    lines = out.splitlines()
    assert code == 0 and lines[0].split() == ["NAME", "SOURCE", "MODELS", "PREFIX", "RPM", "TPM", "BUDGET", "EXPIRES", "STATUS"]
    row = next(line for line in lines if line.startswith("svc "))
    assert "issued" in row and " 5 " in row and "(in 59m)" in row and secret not in out
    assert lines[0].index("SOURCE") == row.index("issued")  # aligned columns

    code, out, _ = cli("keys", "update", "svc", "--tpm", "1000", "--budget", "2.5", "--models", "gpt-4o,text-embedding-3-small",
                       *on(gateway))
    assert code == 0 and "updated key 'svc'" in out
    code, out, _ = cli("keys", "show", "svc", "--json", *on(gateway))
    shown = json.loads(out)
    assert shown["rate_limit"] == {"requests_per_minute": 5, "tokens_per_minute": 1000}  # rpm kept
    assert shown["budget"] == 2.5 and shown["models"] == ["gpt-4o", "text-embedding-3-small"]
    code, out, _ = cli("keys", "update", "svc", "--max-parallel", "4", *on(gateway))
    assert code == 0 and json.loads(cli("keys", "show", "svc", "--json", *on(gateway))[1])["max_parallel_requests"] == 4
    assert "max parallel" in out
    code, _, _ = cli("keys", "update", "svc", "--clear-max-parallel", *on(gateway))
    assert code == 0 and json.loads(cli("keys", "show", "svc", "--json", *on(gateway))[1])["max_parallel_requests"] is None
    code, _, _ = cli("keys", "update", "svc", "--clear-rate-limit", "--clear-budget", "--clear-expiry", *on(gateway))
    shown = json.loads(cli("keys", "--json", "show", "svc", *on(gateway))[1])  # --json before the action works too
    assert code == 0 and shown["rate_limit"] is None and shown["budget"] is None and shown["expires_at"] is None

    code, out, err = cli("keys", "rotate", "svc", *on(gateway))
    rotated = out.split("key: ")[1].strip()
    assert code == 0 and rotated != secret and "shown only once" in err
    with gateway.client(secret) as old, gateway.client(rotated) as new:
        assert old.post("/v1/chat/completions", json={"model": "gpt-4o", "messages": []}).status_code == 401
        assert new.post("/v1/chat/completions", json={"model": "gpt-4o", "messages": []}).status_code == 200

    code, out, _ = cli("keys", "revoke", "svc", *on(gateway))
    assert code == 0 and out.strip() == "revoked key 'svc'"
    with gateway.client(rotated) as c:
        assert c.post("/v1/chat/completions", json={"model": "gpt-4o", "messages": []}).status_code == 401
    code, _, err = cli("keys", "revoke", "svc", *on(gateway))
    assert code == 1 and err == "error: key 'svc' not found\n"


def test_key_command_errors(cli, gateway: GatewayServer) -> None:
    code, out, err = cli("keys", "update", "svc", *on(gateway))
    assert code == 1 and out == "" and err.startswith("error: nothing to update")
    code, _, err = cli("keys", "update", "svc", "--budget", "1", "--clear-budget", *on(gateway))
    assert code == 1 and "contradict" in err
    code, _, err = cli("keys", "update", "team-a", "--models", "gpt-4o", *on(gateway))
    assert code == 1 and "managed by the config file" in err
    code, _, err = cli("keys", "create", "bad name!", *on(gateway))
    assert code == 1 and "name:" in err and "A-Za-z0-9" in err
    code, out, _ = cli("keys", "create", "svc2", "--json", *on(gateway))
    assert code == 0 and json.loads(out)["key"].startswith("sk-")


def test_provider_lifecycle_edits_the_toml(cli, gateway: GatewayServer, upstream: FakeOpenAI) -> None:
    path = gateway.config_path
    code, out, err = cli("providers", "create", "second", "--kind", "openai", "--base-url", upstream.base_url,
                         "--api-key", "sk-second-secret-xyz", "--weight", "2", "--timeout", "7", *on(gateway))
    assert code == 0, err
    assert "created provider 'second'" in out and "fake-a,fake-b" in out  # models discovered
    assert "sk-second-secret-xyz" not in out and "sk-sec…" in out
    text = path.read_text()
    assert "[providers.second]" in text and 'api_key = "sk-second-secret-xyz"' in text and "weight = 2" in text

    code, out, _ = cli("providers", "update", "second", "--models", "m1,m2", "--max-retries", "4", "--clear", "api_key",
                       "--clear", "timeout", *on(gateway))
    assert code == 0 and "updated provider 'second'" in out
    text = path.read_text()
    section = text[text.index("[providers.second]"):]
    assert 'models = ["m1", "m2"]' in section and "max_retries = 4" in section
    assert "api_key" not in section and "timeout" not in section

    code, out, _ = cli("providers", "list", *on(gateway))
    assert code == 0 and out.splitlines()[0].split()[:3] == ["NAME", "KIND", "MODELS"]
    assert any(line.startswith("second ") and "m1,m2" in line for line in out.splitlines())
    code, out, _ = cli("providers", "test", "second", *on(gateway))
    assert code == 0 and out.startswith("second: ok") and " ms" in out
    code, out, _ = cli("providers", "show", "second", *on(gateway))
    assert code == 0 and "last_test:   ok" in out

    code, out, _ = cli("providers", "delete", "second", *on(gateway))
    assert code == 0 and out.strip() == "deleted provider 'second'"
    assert "[providers.second]" not in path.read_text() and "[providers.fake]" in path.read_text()
    code, _, err = cli("providers", "show", "second", *on(gateway))
    assert code == 1 and err == "error: provider 'second' not found\n"


def test_provider_command_errors(cli, gateway: GatewayServer) -> None:
    code, out, err = cli("providers", "create", "down", "--kind", "openai", "--base-url", "http://127.0.0.1:9/v1",
                         "--models", "x", *on(gateway))
    assert code == 0, err
    code, out, _ = cli("providers", "test", "down", *on(gateway))
    assert code == 1 and out.startswith("down: failed") and "error: cannot fetch models" in out
    code, out, _ = cli("providers", "test", "down", "--json", *on(gateway))
    assert code == 1 and json.loads(out)["ok"] is False
    code, _, err = cli("providers", "update", "down", *on(gateway))
    assert code == 1 and err.startswith("error: nothing to update")
    code, _, err = cli("providers", "update", "down", "--weight", "2", "--clear", "weight", *on(gateway))
    assert code == 1 and "contradicts" in err
    code, _, err = cli("providers", "create", "down", "--kind", "openai", "--models", "x", *on(gateway))
    assert code == 1 and "already exists" in err


def test_usage_and_reload(cli, upstream: FakeOpenAI, make_gateway) -> None:
    plain = make_gateway(basic_config(upstream.base_url))
    code, out, err = cli("usage", *on(plain))
    assert code == 1 and "usage extension is not enabled" in err  # the server's message, not a blank table
    counted = make_gateway(basic_config(upstream.base_url, "\n[extensions.usage]\n"), name="counted.toml")
    code, out, _ = cli("usage", *on(counted))
    assert code == 0 and out.strip() == "(no results)"
    with counted.client(KEY) as c:
        assert c.post("/v1/chat/completions", json={"model": "gpt-4o", "messages": []}).status_code == 200
    code, out, _ = cli("usage", "--key", "team-a", *on(counted))
    header, row = out.splitlines()[:2]
    assert code == 0 and header.split()[:3] == ["KEY", "MODEL", "PROVIDER"] and row.split()[:3] == ["team-a", "gpt-4o", "fake"]
    code, out, _ = cli("usage", "--model", "nope", "--json", *on(counted))
    assert code == 0 and json.loads(out) == {"data": []}
    code, out, _ = cli("reload", *on(counted))
    assert code == 0 and out.startswith("reloaded ") and "generation 2" in out
    counted.config_path.write_text("not = = toml")
    code, _, err = cli("reload", *on(counted))
    assert code == 1 and "invalid TOML" in err


def test_wrong_token_and_unreachable(cli, gateway: GatewayServer) -> None:
    code, out, err = cli("keys", "list", "--url", gateway.url, "--token", "sk-wrong-token-123")
    assert code == 1 and out == ""
    assert err.startswith("error: missing or invalid admin token") and "--token" in err
    code, _, err = cli("keys", "list", "--url", gateway.url)  # no token anywhere
    assert code == 1 and "no admin token was found" in err
    code, out, err = cli("providers", "list", "--url", DEAD_URL, "--token", ADMIN)
    assert code == 1 and out == ""
    assert err.startswith(f"error: cannot reach the gateway at {DEAD_URL}") and "crabllm serve" in err and "--url" in err


def write_local(tmp: Path, name: str, *, port: int, token: str) -> str:
    path = tmp / name
    path.write_text(f'listen = "0.0.0.0:{port}"\nadmin_token = "{token}"\n')
    return str(path)


def test_precedence_flag_over_env_over_config(cli, gateway: GatewayServer, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    good = write_local(tmp_path, "good.toml", port=gateway.port, token=ADMIN)
    bad = write_local(tmp_path, "bad.toml", port=9, token="sk-wrong-token-123")
    assert cli("keys", "list", "--config", good)[0] == 0  # the config alone is enough (0.0.0.0 means loopback)
    assert cli("keys", "list", "--config", bad)[0] == 1

    monkeypatch.setenv("CRABLLM_URL", gateway.url)
    monkeypatch.setenv("CRABLLM_TOKEN", ADMIN)
    assert cli("keys", "list", "--config", bad)[0] == 0  # env beats the config file

    monkeypatch.setenv("CRABLLM_URL", DEAD_URL)
    monkeypatch.setenv("CRABLLM_TOKEN", "sk-wrong-token-123")
    code, _, err = cli("keys", "list", "--config", good)
    assert code == 1 and DEAD_URL in err
    assert cli("keys", "list", "--config", good, "--url", gateway.url, "--token", ADMIN)[0] == 0  # flags beat env

    monkeypatch.delenv("CRABLLM_URL")
    monkeypatch.delenv("CRABLLM_TOKEN")
    Path("crabllm.toml").write_text(Path(good).read_text())  # the default --config is ./crabllm.toml
    assert cli("keys", "list")[0] == 0


def test_crabllm_command_with_env(gateway: GatewayServer, tmp_path: Path) -> None:
    env = {**os.environ, "CRABLLM_URL": gateway.url, "CRABLLM_TOKEN": ADMIN}
    r = subprocess.run([sys.executable, "-m", "crabllm", "keys", "list", "--json"], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert {k["name"] for k in json.loads(r.stdout)["data"]} == {"team-a", "restricted"}
    r = subprocess.run([sys.executable, "-m", "crabllm", "providers", "--help"], cwd=tmp_path, capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0 and "create" in r.stdout and "test" in r.stdout
