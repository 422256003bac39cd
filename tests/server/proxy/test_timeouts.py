"""Stream timeouts: a silent upstream before the first byte is retried elsewhere; silence mid-stream ends it."""

from __future__ import annotations

import json
import time

from tests.conftest import KEY
from tests.fakes.openai_upstream import FakeOpenAI, Script, stream_chunks, wait_for


def provider(name: str, url: str, extra: str = "", weight: int = 1, retries: int = 0) -> str:
    return f'[providers.{name}]\nbase_url = "{url}"\nmodels = ["m"]\nweight = {weight}\nmax_retries = {retries}\ntimeout = 5\n{extra}\n'


def keys() -> str:
    return f'[[keys]]\nname = "k"\nkey = "{KEY}"\n'


def stream(gw):
    with gw.client(KEY) as c:
        return c.post("/v1/chat/completions", json={"model": "m", "stream": True, "messages": []})


def test_first_byte_timeout_falls_over_before_anything_is_streamed(make_gateway) -> None:
    slow, good = FakeOpenAI().start(), FakeOpenAI().start()
    try:
        slow.script("/v1/chat/completions", *[Script(chunks=stream_chunks("m", ["late"]), first_delay=2.0)] * 2)
        gw = make_gateway(provider("slow", slow.base_url, "first_byte_timeout = 0.3", weight=1, retries=1)
                          + provider("good", good.base_url, weight=0) + keys())
        started = time.monotonic()
        r = stream(gw)
        assert r.status_code == 200 and r.headers["x-crabllm-provider"] == "good"
        assert "late" not in r.text and r.text.endswith("data: [DONE]\n\n")
        assert len(slow.requests()) == 2 and time.monotonic() - started < 1.8
        assert wait_for(lambda: slow.cancelled == 2, 3.0)  # both silent connections were closed
    finally:
        slow.stop()
        good.stop()


def test_first_byte_timeout_alone_is_504_json(upstream: FakeOpenAI, make_gateway) -> None:
    upstream.script("/v1/chat/completions", Script(chunks=stream_chunks("m", ["late"]), first_delay=2.0))
    gw = make_gateway(provider("p", upstream.base_url, "first_byte_timeout = 0.3") + keys())
    r = stream(gw)
    assert r.status_code == 504 and r.headers["content-type"] == "application/json"
    assert "first byte" in r.json()["error"]["message"] and r.headers["x-should-retry"] == "false"


def test_first_byte_in_time_streams_normally(upstream: FakeOpenAI, make_gateway) -> None:
    upstream.script("/v1/chat/completions", Script(chunks=stream_chunks("m", ["a", "b"]), first_delay=0.1, chunk_delay=0.5))
    gw = make_gateway(provider("p", upstream.base_url, "first_byte_timeout = 0.4") + keys())
    r = stream(gw)  # later chunks may take longer than first_byte_timeout
    assert r.status_code == 200 and '"a"' in r.text and '"b"' in r.text and r.text.endswith("data: [DONE]\n\n")


def test_stream_idle_timeout_ends_the_stream_in_band(upstream: FakeOpenAI, make_gateway) -> None:
    upstream.script("/v1/chat/completions", Script(chunks=stream_chunks("m", ["a", "b", "c"]), chunk_delay=2.0))
    gw = make_gateway(provider("p", upstream.base_url, "stream_idle_timeout = 0.4") + keys())
    started = time.monotonic()
    r = stream(gw)
    assert time.monotonic() - started < 1.8
    events = [e[6:] for e in r.text.split("\n\n") if e.startswith("data: ")]
    assert r.status_code == 200 and json.loads(events[0])["choices"][0]["delta"]["content"] == "a"
    assert "stream_idle_timeout" in json.loads(events[-1])["error"]["message"] and "[DONE]" not in events
    assert wait_for(lambda: upstream.cancelled == 1, 3.0)
    r = stream(gw)  # the next stream is unaffected
    assert r.status_code == 200


def test_timeouts_must_not_be_negative(tmp_path) -> None:
    from crabllm.config.loader import parse_config
    from crabllm.errors import ConfigError

    try:
        parse_config('[providers.p]\nstream_idle_timeout = -1\n', env={})
    except ConfigError as e:
        assert e.path == "providers.p.stream_idle_timeout"
    else:
        raise AssertionError("accepted a negative timeout")
