"""Fuzz: arbitrary bytes and JSON never make a request decoder, or a live gateway route, answer 5xx."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from crabllm.errors import CrabError, InvalidRequest
from crabllm.server.proxy.messages import MessagesView
from crabllm.server.proxy.views import decode_view
from crabllm.types.openai import chat_view, model_view
from tests.conftest import KEY
from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.fakes.gateway import GatewayServer
from tests.fakes.gemini_upstream import FakeGemini
from tests.fakes.openai_upstream import FakeOpenAI
from tests.translate.test_fuzz_translators import anthropic_like, chat_like, json_value

DECODERS = {"chat": chat_view, "model": model_view, "messages": msgspec.json.Decoder(MessagesView)}
ROUTES = ["/v1/chat/completions", "/v1/embeddings", "/v1/messages", "/v1/messages/count_tokens",
          "/v1/images/generations"]
ANTHROPIC_ROUTES = ("/v1/messages", "/v1/messages/count_tokens")
# One model per path through the gateway: raw pass-through, Anthropic pass-through, the built-in
# mock, and a translated upstream (Gemini); plus names that route nowhere.
MODELS = ["gpt-4o", "claude-x", "mock-gpt", "mock-embed", "gem-x", "nope", ""]
# Byte sequences that are never valid UTF-8: a lone continuation byte, an overlong "/", a
# surrogate half, a truncated 3-byte sequence, bytes above U+10FFFF.
BAD_UTF8 = [b"\x80", b"\xc0\xaf", b"\xed\xa0\x80", b"\xe2\x82", b"\xf5\x80\x80\x80", b"\xff"]

FUZZ = settings(max_examples=250, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def encode(value: Any, ascii: bool = True) -> bytes:
    return json.dumps(value, allow_nan=False, ensure_ascii=ascii).encode()


def _has_nan(v: Any) -> bool:
    """NaN and infinity have no JSON spelling; a client cannot send them."""
    if isinstance(v, float):
        return v != v or v in (float("inf"), float("-inf"))
    if isinstance(v, dict):
        return any(_has_nan(x) for x in v.values())
    if isinstance(v, list):
        return any(_has_nan(x) for x in v)
    return False


json_bytes = json_value.filter(lambda v: not _has_nan(v)).map(encode)


@st.composite
def with_model(draw: st.DrawFn, base: st.SearchStrategy[dict[str, Any]]) -> bytes:
    body = draw(base)
    body["model"] = draw(st.sampled_from(MODELS))
    if draw(st.booleans()):
        body["stream"] = draw(st.booleans())
    body = {k: v for k, v in body.items() if not _has_nan(v)}
    return encode(body, ascii=draw(st.booleans()))  # \u escapes, or raw multi-byte UTF-8


@st.composite
def bad_utf8(draw: st.DrawFn) -> bytes:
    """A valid JSON request with invalid UTF-8 spliced inside one of its strings."""
    body = encode({"model": draw(st.sampled_from(MODELS[:5])), "max_tokens": 5, "input": "x", "prompt": "x",
                   "messages": [{"role": "user", "content": "hello world"}]})
    cut = body.index(b"hello") + draw(st.integers(0, 11))
    return body[:cut] + draw(st.sampled_from(BAD_UTF8)) + body[cut:]


bodies = st.one_of(st.binary(max_size=300), json_bytes, with_model(chat_like), with_model(anthropic_like))


# --- the views, in process ---------------------------------------------------------------------


def decodes_or_400(decoder: msgspec.json.Decoder, body: bytes) -> None:
    try:
        decode_view(decoder, body)
    except InvalidRequest as e:
        assert e.status == 400 and e.message
    # Anything else (a ValidationError, UnicodeDecodeError, RecursionError…) fails the test.


@settings(FUZZ, max_examples=300)
@given(body=st.one_of(bodies, bad_utf8()))
def test_views_decode_or_raise_invalid_request(body: bytes) -> None:
    for decoder in DECODERS.values():  # one draw, every view
        decodes_or_400(decoder, body)


@pytest.mark.parametrize("name", list(DECODERS))
def test_views_on_invalid_utf8_and_deep_nesting(name: str) -> None:
    for bad in BAD_UTF8:
        with pytest.raises(InvalidRequest):
            decode_view(DECODERS[name], b'{"model": "m' + bad + b'", "messages": []}')
        with pytest.raises(InvalidRequest):  # inside a field the view skips, too (issue #11 part 2)
            decode_view(DECODERS[name], b'{"model": "m", "x": "' + bad + b'"}')
    for depth in (900, 1000, 5000, 100_000):
        decodes_or_400(DECODERS[name], b'{"model": "m", "x": ' + b"[" * depth + b"]" * depth + b"}")


# --- a live gateway ----------------------------------------------------------------------------


def fuzz_config(openai_url: str, anthropic_url: str, gemini_url: str) -> str:
    return f'''
[providers.oai]
kind = "openai"
base_url = "{openai_url}"
api_key = "sk-upstream-secret"
models = ["gpt-4o"]
max_retries = 0
timeout = 5

[providers.claude]
kind = "anthropic"
base_url = "{anthropic_url}"
api_key = "sk-ant-upstream-secret"
models = ["claude-x"]
max_retries = 0
timeout = 5

[providers.gem]
kind = "google"
base_url = "{gemini_url}"
api_key = "AIza-upstream-secret"
models = ["gem-x"]
max_retries = 0
timeout = 5

[providers.mock]
kind = "mock"
models = ["mock-gpt", "mock-embed"]

[[keys]]
name = "fuzz"
key = "{KEY}"
'''


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    """One gateway for the whole module: hypothesis examples cannot use function-scoped fixtures."""
    fakes = [FakeOpenAI().start(), FakeAnthropic().start(), FakeGemini().start()]
    path: Path = tmp_path_factory.mktemp("fuzz") / "crabllm.toml"
    path.write_text(fuzz_config(*(f.base_url for f in fakes)))
    server = GatewayServer(path)
    # asyncio sets TCP_NODELAY only on sockets made with proto=IPPROTO_TCP; on GatewayServer's
    # plain socket() every answer (headers, then body) waits ~40 ms on Nagle and delayed ACKs.
    server.sock.close()
    server.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    server.sock.bind(("127.0.0.1", 0))
    server.sock.listen(512)
    server.port = server.sock.getsockname()[1]
    server.start()
    try:
        with httpx.Client(base_url=server.url, headers={"authorization": f"Bearer {KEY}"}, timeout=15) as client:
            yield client
    finally:
        server.stop()
        for fake in fakes:
            fake.stop()


def post(client: httpx.Client, route: str, body: bytes) -> httpx.Response:
    r = client.post(route, content=body, headers={"content-type": "application/json"})
    assert r.status_code < 500, (route, body[:300], r.status_code, r.text[:500])
    if r.status_code >= 400:
        envelope = r.json()
        if route in ANTHROPIC_ROUTES:
            assert envelope["type"] == "error", envelope
            assert isinstance(envelope["error"]["type"], str) and isinstance(envelope["error"]["message"], str)
        else:
            assert isinstance(envelope["error"]["message"], str) and "type" in envelope["error"], envelope
    return r


@FUZZ
@given(route=st.sampled_from(ROUTES), body=bodies)
def test_live_routes_never_answer_5xx(live: httpx.Client, route: str, body: bytes) -> None:
    event(f"{route} {post(live, route, body).status_code}")  # --hypothesis-show-statistics: what was reached


@settings(max_examples=60, deadline=None)
@given(route=st.sampled_from(ROUTES), body=bad_utf8())
def test_live_routes_refuse_invalid_utf8(live: httpx.Client, route: str, body: bytes) -> None:
    # Relies on the UTF-8 check of the shared view decoding (issue #11 part 2): before it, these
    # bytes went upstream and came back 200.
    r = post(live, route, body)
    assert r.status_code == 400, (route, body, r.status_code, r.text[:300])
    assert "UTF-8" in r.text


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("model", ["gpt-4o", "claude-x", "mock-gpt", "gem-x"])
def test_live_routes_on_deeply_nested_json(live: httpx.Client, route: str, model: str) -> None:
    """Nesting right at the JSON decoder's limit, where a translation adds the few levels that tip it over."""
    for depth in (*range(960, 1000, 4), 2000):
        nested = b"[" * depth + b"]" * depth
        for body in (
            b'{"model": "%s", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}], "x": %s}'
            % (model.encode(), nested),
            b'{"model": "%s", "max_tokens": 5, "messages": [{"role": "user", "content": %s}]}' % (model.encode(), nested),
        ):
            post(live, route, body)


def test_in_process_errors_are_crab_errors() -> None:
    """The contract the live tests rely on: a view failure is a CrabError with a 4xx status."""
    with pytest.raises(CrabError) as e:
        decode_view(chat_view, b"\xff")
    assert e.value.status == 400
