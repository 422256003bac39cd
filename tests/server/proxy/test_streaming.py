"""SSE streaming through a real gateway: incremental relay, usage handling, commit rule, cuts."""

from __future__ import annotations

import json
import time

import httpx

from tests.conftest import KEY
from tests.fakes.openai_upstream import FakeOpenAI, Script, sse, stream_chunks, wait_for


def events(text: str) -> list[str]:
    return [e[len("data: "):] for e in text.split("\n\n") if e.startswith("data: ")]


def test_stream_injects_usage_and_strips_it_when_not_asked(gateway, upstream: FakeOpenAI) -> None:
    with gateway.client(KEY) as c:
        r = c.post("/v1/chat/completions", json={"model": "gpt-4o", "stream": True, "messages": []})
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/event-stream"
    assert r.headers["cache-control"] == "no-cache"
    sent = upstream.requests()[0].json()
    assert sent["stream_options"] == {"include_usage": True}
    evs = events(r.text)
    assert evs[-1] == "[DONE]"
    chunks = [json.loads(e) for e in evs[:-1]]
    assert "".join(ch["choices"][0]["delta"].get("content", "") for ch in chunks if ch["choices"]) == "Hello from the fake upstream."
    assert all(ch.get("usage") is None for ch in chunks)  # the client did not ask for usage


def test_stream_keeps_usage_when_client_asked(gateway, upstream: FakeOpenAI) -> None:
    body = {"model": "gpt-4o", "stream": True, "stream_options": {"include_usage": True}, "messages": []}
    with gateway.client(KEY) as c:
        r = c.post("/v1/chat/completions", json=body)
    chunks = [json.loads(e) for e in events(r.text)[:-1]]
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] == 18
    assert upstream.requests()[0].json()["stream_options"] == {"include_usage": True}


def test_client_stream_options_false_still_gets_usage_upstream(gateway, upstream: FakeOpenAI) -> None:
    body = {"model": "gpt-4o", "stream": True, "stream_options": {"include_usage": False, "x": 1}, "messages": []}
    with gateway.client(KEY) as c:
        r = c.post("/v1/chat/completions", json=body)
    assert upstream.requests()[0].json()["stream_options"] == {"include_usage": True, "x": 1}
    assert all("usage" not in json.loads(e) or json.loads(e)["usage"] is None for e in events(r.text)[:-1])


def test_stream_arrives_incrementally(gateway, upstream: FakeOpenAI) -> None:
    upstream.script("/v1/chat/completions", Script(chunks=stream_chunks("gpt-4o", ["a", "b", "c"]), chunk_delay=0.3))
    arrivals = []
    with httpx.Client(base_url=gateway.url, timeout=10) as c:
        with c.stream("POST", "/v1/chat/completions", json={"model": "gpt-4o", "stream": True},
                      headers={"authorization": f"Bearer {KEY}"}) as r:
            for _ in r.iter_raw():
                arrivals.append(time.monotonic())
    assert len(arrivals) >= 3
    assert arrivals[-1] - arrivals[0] > 0.5  # not buffered until the end


def test_stream_split_across_reads_and_crlf(gateway, upstream: FakeOpenAI) -> None:
    whole = b"".join(stream_chunks("gpt-4o", ["x", "y"])).replace(b"\n", b"\r\n")
    parts = [whole[i:i + 7] for i in range(0, len(whole), 7)]
    upstream.script("/v1/chat/completions", Script(chunks=parts))
    with gateway.client(KEY) as c:
        r = c.post("/v1/chat/completions", json={"model": "gpt-4o", "stream": True})
    evs = events(r.text)
    assert evs[-1] == "[DONE]" and evs.count("[DONE]") == 1
    assert [json.loads(e)["choices"][0]["delta"].get("content") for e in evs[:2]] == ["x", "y"]


def test_stream_cut_midway_ends_with_error_event(gateway, upstream: FakeOpenAI) -> None:
    upstream.script("/v1/chat/completions", Script(chunks=stream_chunks("gpt-4o", ["a", "b", "c", "d"]), cut_after=2))
    with gateway.client(KEY) as c:
        r = c.post("/v1/chat/completions", json={"model": "gpt-4o", "stream": True})
    assert r.status_code == 200
    evs = events(r.text)
    assert "error" in json.loads(evs[-1]) and "[DONE]" not in evs  # broken, so never a clean end
    assert len(upstream.requests()) == 1  # committed streams are never retried


def test_stream_503_before_body_is_retried_then_served(gateway, upstream: FakeOpenAI) -> None:
    upstream.script("/v1/chat/completions", Script(status=503, body=b'{"error":{"message":"busy"}}'))
    with gateway.client(KEY) as c:
        r = c.post("/v1/chat/completions", json={"model": "gpt-4o", "stream": True})
    assert r.status_code == 200 and events(r.text)[-1] == "[DONE]"
    assert len(upstream.requests()) == 2


def test_stream_all_failing_gives_json_error_not_sse(gateway, upstream: FakeOpenAI) -> None:
    upstream.script("/v1/chat/completions", *[Script(status=503, body=b'{"error":{"message":"busy","type":"x"}}')] * 3)
    with gateway.client(KEY) as c:
        r = c.post("/v1/chat/completions", json={"model": "gpt-4o", "stream": True})
    assert r.status_code == 503
    assert r.headers["content-type"] == "application/json"
    assert r.json()["error"]["message"] == "busy"


def test_malformed_first_frame_is_a_502_before_the_stream(gateway, upstream: FakeOpenAI) -> None:
    chunks = [b"data: {not json}\n\n", sse({"choices": [{"index": 0, "delta": {"content": "ok"}}]}), b"data: [DONE]\n\n"]
    upstream.script("/v1/chat/completions", Script(chunks=chunks))
    with gateway.client(KEY) as c:
        r = c.post("/v1/chat/completions", json={"model": "gpt-4o", "stream": True})
    assert r.status_code == 502 and r.json()["error"]["code"] == "bad_upstream_response"
    assert "{not json}" in r.json()["error"]["message"]
    assert len(upstream.requests()) == 1  # garbage is not retried on the same deployment


def test_client_disconnect_cancels_upstream(gateway, upstream: FakeOpenAI) -> None:
    upstream.script("/v1/chat/completions", Script(chunks=stream_chunks("gpt-4o", ["a"] * 50), chunk_delay=0.1))
    with httpx.Client(base_url=gateway.url, timeout=10) as c:
        with c.stream("POST", "/v1/chat/completions", json={"model": "gpt-4o", "stream": True},
                      headers={"authorization": f"Bearer {KEY}"}) as r:
            for _ in r.iter_raw():
                break
    assert wait_for(lambda: upstream.cancelled == 1, 3.0)
