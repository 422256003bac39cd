"""[limits]: everything a client controls is bounded and answered with a clear 4xx before any upstream call."""

from __future__ import annotations

from tests.conftest import KEY, basic_config
from tests.fakes.openai_upstream import FakeOpenAI

LIMITS = "\n[limits]\nmax_header_bytes = 4096\nmax_messages = 3\nmax_multipart_parts = 4\n"


def test_each_limit_is_a_clear_4xx(upstream: FakeOpenAI, make_gateway) -> None:
    gw = make_gateway(basic_config(upstream.base_url, LIMITS, models='["gpt-4o", "whisper-1"]'))
    with gw.client(KEY) as c:
        r = c.post("/v1/chat/completions", json={"model": "gpt-4o", "messages": []}, headers={"x-junk": "j" * 5000})
        assert r.status_code == 431 and "max_header_bytes" in r.json()["error"]["message"]
        r = c.post("/v1/messages", json={"model": "gpt-4o", "max_tokens": 5, "messages": []}, headers={"x-junk": "j" * 5000})
        assert r.status_code == 431 and r.json()["type"] == "error"  # Anthropic envelope on /v1/messages
        msgs = [{"role": "user", "content": str(i)} for i in range(4)]
        r = c.post("/v1/chat/completions", json={"model": "gpt-4o", "messages": msgs})
        assert r.status_code == 400 and "too many messages" in r.json()["error"]["message"]
        assert c.post("/v1/chat/completions", json={"model": "gpt-4o", "messages": msgs[:3]}).status_code == 200
        files = {f"f{i}": (f"a{i}.wav", b"RIFF", "audio/wav") for i in range(5)}
        r = c.post("/v1/audio/transcriptions", data={"model": "whisper-1"}, files=files)
        assert r.status_code == 400 and "multipart parts" in r.json()["error"]["message"]
    assert len(upstream.requests()) == 1


def test_config_reprs_never_show_secrets() -> None:
    from crabllm.config.loader import parse_config

    config = parse_config('admin_token = "sk-admin-SECRET1"\n[providers.p]\napi_key = "sk-up-SECRET2"\n'
                          '[[keys]]\nname = "k"\nkey = "sk-key-SECRET3"\n', env={})
    text = repr(config) + str(config) + repr(config.providers["p"]) + repr(config.keys[0])
    assert "SECRET" not in text and "api_key=***" in text and "name='k'" in text
