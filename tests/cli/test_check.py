"""`crabllm check` as CI runs it: every problem with its TOML path, exit 1; a one-line summary when valid."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

CRABLLM = [sys.executable, "-m", "crabllm"]
ROOT = Path(__file__).resolve().parents[2]

VALID = """\
admin_token = "sk-admin-check-0123456789"

[providers.mock]
kind = "mock"
models = ["mock-gpt", "mock-embed"]

[providers.openai]
kind = "openai"
api_key = "${CHECK_TEST_OPENAI_KEY:-sk-default}"
models = ["gpt-4o"]

[[keys]]
name = "team"
key = "sk-team-0123456789"

[aliases]
gpt = "mock-gpt"

[models.gpt-4o.pricing]
prompt_cost_per_million = 2.5
completion_cost_per_million = 10.0

[storage]
kind = "redis"
path = "redis://127.0.0.1:1/3"
"""


def check(tmp_path: Path, toml: str | None, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    if toml is not None:
        (tmp_path / "c.toml").write_text(toml)
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CHECK_TEST_")}
    return subprocess.run([*CRABLLM, "check", *(args or ("--config", "c.toml"))], cwd=tmp_path, capture_output=True,
                          text=True, timeout=20, env={**clean, **(env or {})})


def errors(r: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in r.stderr.splitlines() if line.startswith("error: ")]


def test_valid_config_prints_one_summary_line(tmp_path: Path) -> None:
    # The redis URL points at a closed port: check must not open storage (nor bind, nor call upstreams).
    r = check(tmp_path, VALID)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "ok: c.toml: 2 providers, 3 models, 1 key\n"
    assert r.stderr == ""
    assert not (tmp_path / "crabllm.db").exists()


def test_default_config_path_and_help(tmp_path: Path) -> None:
    (tmp_path / "crabllm.toml").write_text(VALID)
    r = check(tmp_path, None, "-v")
    assert r.returncode == 0 and r.stdout.startswith("ok: crabllm.toml: "), r.stderr
    r = subprocess.run([*CRABLLM, "check", "--help"], capture_output=True, text=True, timeout=20)
    assert r.returncode == 0 and "usage: crabllm check" in r.stdout and "--config" in r.stdout


def test_missing_file_is_a_problem_not_a_starter(tmp_path: Path) -> None:
    r = check(tmp_path, None)
    assert r.returncode == 1 and "file not found" in r.stderr
    assert not (tmp_path / "c.toml").exists(), "check never writes a config"


def test_every_problem_is_printed_with_its_path(tmp_path: Path) -> None:
    toml = """\
listen = "nowhere"

[providers.openai]
kind = "openai"
wieght = 3
timeout = "slow"
models = ["gpt-4o"]

[providers.g]
kind = "google"
models = ["gemini"]

[[keys]]
name = "a"
key = "short"

[aliases]
fast = "gpt-5"

[models.gpt-4o.pricing]
prompt_cost_per_million = -1
completion_cost_per_million = 2

[extensions.cashe]

[storage]
kind = "redis"
path = "http://localhost:6379/0"
"""
    r = check(tmp_path, toml)
    assert r.returncode == 1
    found = errors(r)
    expected = {
        "listen": "invalid listen address",
        "providers.openai.wieght": "unknown field 'wieght'",
        "providers.openai.timeout": "expected `float`, got `str`",
        "providers.g.api_key": "requires an api_key",
        "keys[0].key": "too short",
        "aliases.fast": "no provider serves",
        "models.gpt-4o.pricing.prompt_cost_per_million": "must not be negative",
        "extensions.cashe": "unknown extension 'cashe'",
        "storage.path": "invalid redis URL",
    }
    for path, needle in expected.items():
        assert any(f"c.toml: {path}: " in line and needle in line for line in found), (path, r.stderr)
    assert len(found) == len(expected), r.stderr
    assert all("(fix: " in line for line in found)
    assert r.stderr.splitlines()[-1] == f"c.toml: {len(expected)} problems"
    assert r.stdout == "" and "Traceback" not in r.stderr


def test_missing_env_variables_each_name_their_path(tmp_path: Path) -> None:
    toml = ('admin_token = "${CHECK_TEST_ADMIN}"\n[providers.a]\nkind = "anthropic"\napi_key = "${CHECK_TEST_ANTHROPIC}"\n'
            'models = ["claude"]\n')
    r = check(tmp_path, toml)
    assert r.returncode == 1
    found = errors(r)
    assert len(found) == 2, r.stderr  # the empty api_key and admin_token follow from the variables: not reported again
    assert "c.toml: admin_token: environment variable CHECK_TEST_ADMIN is not set" in found[0]
    assert "c.toml: providers.a.api_key: environment variable CHECK_TEST_ANTHROPIC is not set" in found[1]
    r = check(tmp_path, None, env={"CHECK_TEST_ADMIN": "sk-admin-0123456789", "CHECK_TEST_ANTHROPIC": "sk-ant-x"})
    assert r.returncode == 0 and r.stdout == "ok: c.toml: 1 provider, 1 model, 0 keys\n", r.stderr


def test_bad_alias(tmp_path: Path) -> None:
    r = check(tmp_path, '[providers.m]\nkind = "mock"\nmodels = ["m"]\n[aliases]\nfast = "m"\nsmart = "gpt-9"\n')
    assert r.returncode == 1
    assert errors(r) == ["error: c.toml: aliases.smart: alias 'smart' points to 'gpt-9', which no provider serves "
                         "(fix: add 'gpt-9' to a provider's models or fix the alias)"]


@pytest.mark.parametrize("storage, needle", [
    ('kind = "postgres"', "storage.kind: unknown storage kind 'postgres' (fix: use one of: memory, sqlite, redis)"),
    ('kind = "redis"\npath = "redis://:hunter2@cache:notaport/0"', "storage.path: invalid redis URL"),
    ('kind = "redis"\npath = "redis://cache:6379/zero"', "database 'zero' is not a number"),
])
def test_bad_storage(tmp_path: Path, storage: str, needle: str) -> None:
    r = check(tmp_path, f"[storage]\n{storage}\n")
    assert r.returncode == 1
    assert len(errors(r)) == 1 and needle in errors(r)[0], r.stderr
    assert "hunter2" not in r.stderr, "the redis password is never printed"


def test_toml_syntax_error(tmp_path: Path) -> None:
    r = check(tmp_path, '[providers.m]\nkind = "mock"\nmodels = ["m"\n')
    assert r.returncode == 1
    assert len(errors(r)) == 1 and "c.toml: invalid TOML" in errors(r)[0] and "line" in errors(r)[0], r.stderr


def test_serve_still_stops_at_the_first_problem(tmp_path: Path) -> None:
    # The same checks: serve reports the first of the problems check lists, in the same format.
    (tmp_path / "c.toml").write_text('[aliases]\nfast = "gpt-5"\n[storage]\nkind = "postgres"\n')
    r = subprocess.run([*CRABLLM, "serve", "--config", "c.toml", "--bind", "127.0.0.1:1"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 1
    assert errors(r) == [errors(check(tmp_path, None))[0]]


def test_every_example_config_passes_check() -> None:
    env = {"OPENAI_API_KEY": "sk-x", "AZURE_OPENAI_API_KEY": "az", "GROQ_API_KEY": "g", "CRABLLM_ADMIN_TOKEN": "sk-admin-xyz",
           "TEAM_A_KEY": "sk-team-a-123", "OPENROUTER_API_KEY": "o", "ANTHROPIC_API_KEY": "sk-ant-x",
           "GEMINI_API_KEY": "AIza-x", "AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "AKIA-x",
           "AWS_SECRET_ACCESS_KEY": "secret-x"}
    for path in sorted((ROOT / "configs").glob("*.toml")):
        r = check(ROOT, None, "--config", str(path), env=env)
        assert r.returncode == 0 and r.stdout.startswith(f"ok: {path}: "), r.stderr
