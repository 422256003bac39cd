"""Secret: masked in every repr, format and encoding; revealed only where a credential goes on the wire."""

from __future__ import annotations

import copy
import json
import logging
import pickle
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiohttp
import msgspec
import pytest

from crabllm.config.editor import ConfigEditor
from crabllm.config.loader import config_from_raw, parse_config
from crabllm.config.schema import KeyConfig, ProviderConfig
from crabllm.config.secret import MASK, Secret, enc_hook, reveal
from crabllm.errors import ConfigError, InvalidRequest
from crabllm.providers.base import Endpoint
from crabllm.providers.factory import build_provider
from crabllm.registry import build_registry, digest
from tests.conftest import ADMIN, KEY, basic_config
from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.fakes.gateway import GatewayServer
from tests.fakes.gemini_upstream import FakeGemini
from tests.fakes.openai_upstream import FakeOpenAI

VALUE = "sk-live-0123456789abcdef"
TOML = f'''
admin_token = "${{ADMIN_TOKEN}}"

[providers.p]
kind = "openai"
api_key = "${{UP_KEY}}"
models = ["gpt-4o"]

[providers.b]
kind = "bedrock"
region = "us-east-1"
access_key = "AKIA-{VALUE}"
secret_key = "aws-{VALUE}"
session_token = "tok-{VALUE}"
models = ["claude"]

[[keys]]
name = "k"
key = "key-{VALUE}"
'''
ENV = {"ADMIN_TOKEN": "adm-" + VALUE, "UP_KEY": "up-" + VALUE}


def config():  # type: ignore[no-untyped-def]
    return parse_config(TOML, env=ENV)


def test_every_text_form_is_masked() -> None:
    s = Secret(VALUE)
    for shown in (repr(s), str(s), f"{s}", f"{s!r}", f"{s:>20}", "%s" % s, "%r" % s, "{}".format(s), str([s]),
                  str({"k": s})):
        assert VALUE not in shown and MASK in shown, shown


def test_reveal_gives_the_value() -> None:
    assert Secret(VALUE).reveal() == VALUE
    assert reveal(Secret(VALUE)) == VALUE and reveal(None) == "" and reveal(None, "x") == "x"
    assert bool(Secret(VALUE)) and not Secret("")
    with pytest.raises(TypeError):
        Secret(123)  # type: ignore[arg-type]
    with pytest.raises(AttributeError):
        Secret(VALUE)._value = "other"  # type: ignore[misc]


def test_encodings_are_masked_or_refused() -> None:
    cfg = config()
    every = [ENV["ADMIN_TOKEN"], ENV["UP_KEY"], VALUE]
    out = msgspec.json.encode(cfg, enc_hook=enc_hook)
    assert not any(v.encode() in out for v in every)
    decoded = json.loads(out)
    assert decoded["admin_token"] == MASK and decoded["providers"]["p"]["api_key"] == MASK
    assert decoded["providers"]["b"]["secret_key"] == MASK and decoded["keys"][0]["key"] == MASK
    assert msgspec.to_builtins(cfg.providers["p"], enc_hook=enc_hook)["api_key"] == MASK
    # With no hook an encoder refuses the type; the error must not carry the value either.
    for attempt in (lambda: msgspec.json.encode(cfg), lambda: msgspec.to_builtins(cfg),
                    lambda: json.dumps({"api_key": Secret(VALUE)})):
        with pytest.raises(TypeError) as e:
            attempt()
        assert not any(v in str(e.value) for v in every)
    assert json.dumps({"api_key": Secret(VALUE)}, default=str) == '{"api_key": "***"}'


def test_config_decodes_interpolates_and_reveals() -> None:
    cfg = config()
    p, b = cfg.providers["p"], cfg.providers["b"]
    assert isinstance(p.api_key, Secret) and p.api_key.reveal() == ENV["UP_KEY"]
    assert cfg.admin_token is not None and cfg.admin_token.reveal() == ENV["ADMIN_TOKEN"]
    assert [reveal(x) for x in (b.access_key, b.secret_key, b.session_token)] == [
        f"AKIA-{VALUE}", f"aws-{VALUE}", f"tok-{VALUE}"]
    assert cfg.keys[0].key is not None and cfg.keys[0].key.reveal() == f"key-{VALUE}"
    assert VALUE not in repr(cfg) and ENV["UP_KEY"] not in repr(cfg)
    with pytest.raises(ConfigError) as e:
        parse_config('[providers.p]\napi_key = 5\n', env={})
    assert e.value.path == "providers.p.api_key" and "str" in e.value.message


def test_equality_and_hash_follow_the_value() -> None:
    assert config() == config()  # a reload of an unchanged file compares equal
    assert parse_config(TOML, env={**ENV, "UP_KEY": "other-key-1"}) != config()
    assert Secret(VALUE) == Secret(VALUE) and hash(Secret(VALUE)) == hash(Secret(VALUE))
    assert Secret(VALUE) != Secret(VALUE + "x")
    assert Secret(VALUE) != VALUE  # a Secret is never mistaken for its plain string
    for clone in (copy.deepcopy(Secret(VALUE)), pickle.loads(pickle.dumps(Secret(VALUE)))):
        assert clone == Secret(VALUE) and clone.reveal() == VALUE


def test_tables_built_in_code_wrap_plain_strings() -> None:
    p = ProviderConfig(kind="openai", api_key=VALUE)  # type: ignore[arg-type]
    k = KeyConfig(name="n", key=VALUE)  # type: ignore[arg-type]
    assert isinstance(p.api_key, Secret) and isinstance(k.key, Secret) and p.api_key.reveal() == VALUE
    assert VALUE not in repr(p) and VALUE not in repr(k)


def test_debug_log_of_the_config_shows_no_secret(caplog: pytest.LogCaptureFixture) -> None:
    cfg = config()
    log = logging.getLogger("crabllm.test_secret")
    with caplog.at_level(logging.DEBUG, logger="crabllm.test_secret"):
        log.debug("config %s", cfg)
        log.debug("config %r providers=%s", cfg, cfg.providers)
        log.debug(f"provider {cfg.providers['p']} key {cfg.providers['p'].api_key}")
        log.debug("admin %s", cfg.admin_token)
    text = caplog.text
    assert "config" in text and "***" in text
    assert not any(v in text for v in (*ENV.values(), VALUE))


def test_editor_never_writes_an_expanded_or_masked_secret(tmp_path: Path) -> None:
    path = tmp_path / "crabllm.toml"
    path.write_text(TOML)

    def validate(raw: dict[str, object]) -> None:
        config_from_raw(raw, file=str(path), env=ENV, base_dir=tmp_path)

    ConfigEditor(path, validate=validate).upsert_provider("p", {"weight": 3}, create=False)
    text = path.read_text()
    assert 'api_key = "${UP_KEY}"' in text and 'admin_token = "${ADMIN_TOKEN}"' in text
    assert ENV["UP_KEY"] not in text and MASK not in text
    with pytest.raises(InvalidRequest):  # a Secret object itself is refused, not written as its value or mask
        ConfigEditor(path, validate=validate).upsert_provider("p", {"api_key": Secret(VALUE)}, create=False)
    assert path.read_text() == text


async def test_key_and_admin_digests_use_the_value(session: aiohttp.ClientSession) -> None:
    reg = build_registry(config(), session)
    assert reg.admin_digest == digest(ENV["ADMIN_TOKEN"])
    assert digest(f"key-{VALUE}") in reg.keys


def test_openai_provider_sends_the_real_key_and_admin_shows_it_masked(
        upstream: FakeOpenAI, make_gateway: Callable[[str], GatewayServer]) -> None:
    gw = make_gateway(basic_config(upstream.base_url))
    with gw.client(KEY) as c:
        r = c.post("/v1/chat/completions", json={"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]})
        assert r.status_code == 200, r.text
    assert upstream.requests()[-1].headers["Authorization"] == "Bearer sk-upstream-secret"
    with gw.client(ADMIN) as c:
        shown = c.get("/v1/admin/providers/fake").json()
    assert shown["api_key"] == "sk-ups…" and "sk-upstream-secret" not in json.dumps(shown)  # masked as before


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def test_anthropic_and_google_send_the_real_key(session: aiohttp.ClientSession) -> None:
    body = msgspec.json.encode({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]})
    ant, gem = FakeAnthropic().start(), FakeGemini().start()
    try:
        a = build_provider("a", ProviderConfig(kind="anthropic", api_key="ant-" + VALUE, base_url=ant.base_url),  # type: ignore[arg-type]
                           session)
        g = build_provider("g", ProviderConfig(kind="google", api_key="goog-" + VALUE, base_url=gem.base_url),  # type: ignore[arg-type]
                           session)
        for provider in (a, g):
            up = await provider.send(Endpoint.CHAT, body, "m", False)
            await up.read()
        assert ant.requests()[-1].headers["x-api-key"] == "ant-" + VALUE
        assert gem.requests()[-1].headers["x-goog-api-key"] == "goog-" + VALUE
    finally:
        ant.stop()
        gem.stop()


def test_the_apps_response_encoder_masks_a_secret() -> None:
    """Should a handler ever return a config table, Litestar writes its secrets masked."""
    from litestar.serialization import encode_json, get_serializer

    from crabllm.server.app import create_app

    cfg = config()
    app = create_app("unused.toml", cfg)
    out = encode_json(cfg.providers, serializer=get_serializer(app.litestar.type_encoders))
    assert json.loads(out)["p"]["api_key"] == MASK and ENV["UP_KEY"].encode() not in out
