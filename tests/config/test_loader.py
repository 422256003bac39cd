"""Config loading: strict schema with TOML paths, env interpolation, validation, examples."""

from __future__ import annotations

from pathlib import Path

import pytest

from crabllm.config.env import MissingVariables, expand
from crabllm.config.loader import load_config, parse_config
from crabllm.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def err(text: str, env: dict[str, str] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as e:
        parse_config(text, file="c.toml", env=env or {})
    return e.value


def test_defaults() -> None:
    c = parse_config("", env={})
    assert c.listen == "127.0.0.1:5632" and c.openapi and c.shutdown_timeout == 30
    assert c.limits.max_body_bytes == 32 * 1024 * 1024 and c.storage.kind == "memory"


def test_unknown_fields_name_their_path() -> None:
    e = err('[providers.openai]\nmodels = ["a"]\nwieght = 3\n')
    assert e.path == "providers.openai.wieght" and "unknown field 'wieght'" in str(e)
    assert str(e).startswith("c.toml: providers.openai.wieght:")
    assert err("lissen = 1\n").path == "lissen"
    assert err('[[keys]]\nname = "a"\nkey = "sk-12345678"\nmodel = []\n').path == "keys[0].model"
    assert err('[models."gpt-4.1".pricing]\nprompt_cost_per_million = 1\n').path == 'models."gpt-4.1".pricing.completion_cost_per_million'


def test_wrong_types() -> None:
    e = err('[providers.p]\nweight = "x"\n')
    assert e.path == "providers.p.weight" and "expected `int`" in e.message


def test_bad_toml() -> None:
    e = err("listen = \n")
    assert "invalid TOML" in e.message and "line 1" in e.message


def test_env_interpolation() -> None:
    c = parse_config('admin_token = "${TOK}"\n[providers.p]\napi_key = "${K:-fallback}"\napi_version = "$${literal}"\nkind = "openai"\n',
                     env={"TOK": "sk-admin-12345"})
    assert c.admin_token is not None and c.admin_token.reveal() == "sk-admin-12345"
    assert c.providers["p"].api_key is not None and c.providers["p"].api_key.reveal() == "fallback"
    assert c.providers["p"].api_version == "${literal}"
    e = err('admin_token = "${A}"\n[providers.p]\napi_key = "${B}"\n', env={})
    assert "admin_token needs ${A}" in e.message and "providers.p.api_key needs ${B}" in e.message
    assert "export A, B" in str(e)


def test_expand_property_keeps_non_strings() -> None:
    assert expand({"a": [1, "${X}", {"b": True}]}, {"X": "y"}) == {"a": [1, "y", {"b": True}]}
    with pytest.raises(MissingVariables):
        expand({"a": "${NOPE}"}, {})


def test_provider_validation() -> None:
    assert "requires a base_url" in err('[providers.g]\nkind = "groq"\n').message
    assert "requires an api_key" in err('[providers.az]\nkind = "azure"\nbase_url = "https://x.openai.azure.com"\n').message
    e = err('[providers.c]\nkind = "anthropic"\n')
    assert "requires an api_key" in e.message and e.path == "providers.c.api_key"
    assert "credentials" in err('[providers.p]\nbase_url = "https://u:p@host/v1"\n').message
    assert err('[providers.p]\nbase_url = "ftp://host"\n').path == "providers.p.base_url"
    assert err('[providers.p]\nweight = -1\n').path == "providers.p.weight"


def test_keys_validation() -> None:
    assert "exactly one of key or key_sha256" in err('[[keys]]\nname = "a"\n').message
    assert "duplicate" in err('[[keys]]\nname = "a"\nkey = "sk-12345678"\n[[keys]]\nname = "a"\nkey = "sk-87654321"\n').message
    assert "invalid key name" in err('[[keys]]\nname = "a:b"\nkey = "sk-12345678"\n').message
    assert err('[[keys]]\nname = "a"\nkey_sha256 = "xyz"\n').path == "keys[0].key_sha256"


def test_aliases_extensions_storage() -> None:
    assert "no provider serves" in err('[aliases]\nx = "missing"\n').message
    e = err("[extensions.foo]\n")
    assert "unknown extension 'foo'" in e.message and "rate_limit" in str(e)
    assert err('[storage]\nkind = "postgres"\n').path == "storage.kind"
    assert err('listen = "nowhere"\n').path == "listen"


def test_cloud_models_merge_field_by_field(tmp_path: Path) -> None:
    (tmp_path / "cloud.toml").write_text('[m]\ncontext_length = 100\n[m.pricing]\nprompt_cost_per_million = 1.0\ncompletion_cost_per_million = 2.0\n')
    cfg = tmp_path / "c.toml"
    cfg.write_text('cloud_models = "cloud.toml"\n[models.m]\ncontext_length = 200\n')
    c = load_config(cfg)
    assert c.models["m"].context_length == 200
    assert c.models["m"].pricing is not None and c.models["m"].pricing.completion_cost_per_million == 2.0


def test_every_example_config_loads() -> None:
    examples = sorted((ROOT / "configs").glob("*.toml"))
    assert examples, "configs/ must hold example configs"
    env = {"OPENAI_API_KEY": "sk-x", "AZURE_OPENAI_API_KEY": "az", "GROQ_API_KEY": "g", "CRABLLM_ADMIN_TOKEN": "sk-admin-xyz",
           "TEAM_A_KEY": "sk-team-a-123", "OPENROUTER_API_KEY": "o", "ANTHROPIC_API_KEY": "sk-ant-x",
           "GEMINI_API_KEY": "AIza-x", "AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "AKIA-x",
           "AWS_SECRET_ACCESS_KEY": "secret-x"}
    for path in examples:
        load_config(path, env=env)


def test_starter_template_loads(tmp_path: Path) -> None:
    from crabllm.config.starter import write_starter

    path = tmp_path / "s.toml"
    admin, key = write_starter(path)
    c = load_config(path, env={})
    assert c.admin_token is not None and c.admin_token.reveal() == admin
    assert c.keys[0].key is not None and c.keys[0].key.reveal() == key and c.providers["mock"].kind == "mock"
    assert (path.stat().st_mode & 0o777) == 0o600
    with pytest.raises(ConfigError):
        write_starter(path)
