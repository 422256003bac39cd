"""Fault injection: each upstream fault, what the client sees, and that nothing else is affected.

Model "m" is served by the faulty upstream, model "ok" by a healthy one. After every fault a
normal request to "ok" must succeed, nothing may stay in flight, and with the extensions on the
usage and rate-limit counters must hold exactly the successful requests (a failure adds no
tokens, a retry is not a second admission).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import KEY
from tests.fakes.gateway import GatewayServer
from tests.fakes.openai_upstream import FakeOpenAI, Script, sse, stream_chunks, wait_for
from tests.reliability.helpers import (CHAT, TOKENS, admin_get, assert_envelope, assert_unaffected, chat, closed_port,
                                       established_to, events, in_gateway, provider, start, stream_text)


@pytest.fixture
def healthy() -> Iterator[FakeOpenAI]:
    fake = FakeOpenAI().start()
    yield fake
    fake.stop()


@pytest.fixture(params=[False, True], ids=["plain", "extensions"])
def ext(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


# --- connection refused ------------------------------------------------------------------------

def test_connection_refused_is_502_fast_and_isolated(healthy: FakeOpenAI, make_gateway: Any, ext: bool) -> None:
    dead = f"http://127.0.0.1:{closed_port()}/v1"
    gw = start(make_gateway, healthy, provider("dead", dead, retries=1), ext=ext)
    began = time.monotonic()
    assert_envelope(chat(gw), 502, "upstream_unavailable")
    assert_envelope(chat(gw, stream=True), 502, "upstream_unavailable")  # a stream that never started: JSON, not SSE
    assert time.monotonic() - began < 5
    assert_unaffected(gw, ext, admitted=2)


# --- connection reset mid-response (non-streaming) ---------------------------------------------

@pytest.mark.parametrize("sent", [0, 40], ids=["headers-only", "part-of-body"])
def test_reset_mid_response_is_retried(upstream: FakeOpenAI, healthy: FakeOpenAI, make_gateway: Any, ext: bool,
                                       sent: int) -> None:
    upstream.script(CHAT, Script(reset_after_bytes=sent))
    gw = start(make_gateway, healthy, provider("flaky", upstream.base_url, retries=1), ext=ext)
    r = chat(gw)
    assert r.status_code == 200 and r.json()["usage"]["total_tokens"] == TOKENS
    assert len(upstream.requests(CHAT)) == 2
    assert_unaffected(gw, ext, admitted=1, served={"m": (1, TOKENS)})


@pytest.mark.parametrize("sent", [0, 40], ids=["headers-only", "part-of-body"])
def test_reset_mid_response_every_time_is_502(upstream: FakeOpenAI, healthy: FakeOpenAI, make_gateway: Any, ext: bool,
                                              sent: int) -> None:
    upstream.script(CHAT, *[Script(reset_after_bytes=sent)] * 2)
    gw = start(make_gateway, healthy, provider("flaky", upstream.base_url, retries=1), ext=ext)
    assert_envelope(chat(gw), 502, "upstream_unavailable")
    assert len(upstream.requests(CHAT)) == 2  # 1 + max_retries, then no more
    assert_unaffected(gw, ext, admitted=1)


# --- connection reset mid-stream ---------------------------------------------------------------

def test_reset_mid_stream_ends_in_band_and_next_stream_works(upstream: FakeOpenAI, healthy: FakeOpenAI,
                                                             make_gateway: Any, ext: bool) -> None:
    upstream.script(CHAT, Script(chunks=stream_chunks("m", ["one ", "two ", "three"]), cut_after=2))
    gw = start(make_gateway, healthy, provider("flaky", upstream.base_url, retries=2), ext=ext)
    r = chat(gw, stream=True, stream_options={"include_usage": True})
    assert r.status_code == 200 and r.headers["content-type"] == "text/event-stream"
    evs = events(r.text)
    assert stream_text(evs[:-1]) == "one two "  # what arrived before the cut is delivered
    error = json.loads(evs[-1])["error"]
    assert error["type"] and error["message"] and error["code"] == "upstream_unavailable"
    assert "[DONE]" not in evs  # a broken stream never ends like a whole one
    assert len(upstream.requests(CHAT)) == 1  # a committed stream is never replayed
    r = chat(gw, stream=True)  # the same upstream, the next stream: whole
    evs = events(r.text)
    assert stream_text(evs) == "Hello from the fake upstream." and evs[-1] == "[DONE]"
    assert not any("error" in json.loads(e) for e in evs[:-1])
    # The cut stream was served (200 committed) but its usage chunk never came: its two chunks are
    # booked as an estimate of the completion tokens it delivered.
    assert_unaffected(gw, ext, admitted=2, served={"m": (2, TOKENS + 2)}, stream=True)


# --- slow first byte (non-streaming `timeout`) -------------------------------------------------

def test_slow_first_byte_within_timeout_is_served(upstream: FakeOpenAI, healthy: FakeOpenAI, make_gateway: Any,
                                                  ext: bool) -> None:
    upstream.script(CHAT, Script(delay=0.4))
    gw = start(make_gateway, healthy, provider("slow", upstream.base_url, retries=1, timeout=3), ext=ext)
    r = chat(gw)
    assert r.status_code == 200 and len(upstream.requests(CHAT)) == 1
    assert_unaffected(gw, ext, admitted=1, served={"m": (1, TOKENS)})


async def test_slow_first_byte_beyond_timeout_is_504_and_others_keep_flowing(
        upstream: FakeOpenAI, healthy: FakeOpenAI, make_gateway: Any, ext: bool) -> None:
    upstream.script(CHAT, *[Script(delay=3.0)] * 2)
    gw = start(make_gateway, healthy, provider("slow", upstream.base_url, retries=1, timeout=0.4), ext=ext)
    async with httpx.AsyncClient(base_url=gw.url, headers={"authorization": f"Bearer {KEY}"}, timeout=30) as c:
        body = {"model": "m", "messages": []}
        began = time.monotonic()
        slow = asyncio.ensure_future(c.post(CHAT, json=body))
        await asyncio.sleep(0.1)
        # While the slow request waits on its upstream, others are served at once.
        others = await asyncio.gather(*(c.post(CHAT, json={**body, "model": "ok"}) for _ in range(5)))
        assert [r.status_code for r in others] == [200] * 5 and not slow.done()
        r = await slow
        elapsed = time.monotonic() - began
    assert_envelope(r, 504, "upstream_timeout")
    assert elapsed < 3  # two attempts of 0.4 s and a backoff, not the upstream's 3 s
    assert len(upstream.requests(CHAT)) == 2
    # The gateway hung up on the slow upstream at once (which is still sleeping on both requests).
    assert established_to(upstream.port) == 0
    assert_unaffected(gw, ext, admitted=6, served={"ok": (5, 5 * TOKENS)})


# --- malformed JSON ----------------------------------------------------------------------------

@pytest.mark.parametrize("garbage", [b"this is not json", b"", b'{"id": "chatcmpl-x", "choices": [', b"<html>502</html>",
                                     b'{"usage": "many"}'],
                         ids=["text", "empty", "truncated", "html", "wrong-usage-type"])
def test_malformed_json_is_502_not_retried(upstream: FakeOpenAI, healthy: FakeOpenAI, make_gateway: Any, ext: bool,
                                           garbage: bytes) -> None:
    upstream.script(CHAT, Script(body=garbage))
    gw = start(make_gateway, healthy, provider("garbage", upstream.base_url, retries=2), ext=ext)
    assert_envelope(chat(gw), 502, "bad_upstream_response")
    assert len(upstream.requests(CHAT)) == 1
    assert_unaffected(gw, ext, admitted=1)


# --- malformed SSE -----------------------------------------------------------------------------

DELTA = sse({"choices": [{"index": 0, "delta": {"content": "ok"}}]})
OK_EVENT = DELTA[len("data: "):].decode().strip()
BIG = 2 * 1024 * 1024
# case -> (upstream chunks, outcome): "clean" = the text and one [DONE]; "error" = a frame that is
# not JSON: a 502 when it is all that came before the stream was committed, else one in-band error
# event and no [DONE]; "bounded" = the text, then one in-band error event, never buffered twice over.
MALFORMED_SSE: dict[str, tuple[list[bytes], str]] = {
    "garbage-lines": ([b"garbage\n\n", b":::\nnot a field at all\n\n", b"data:\n\n", b"data: {nope\n\n", DELTA,
                       b"data: [DONE]\n\n"], "error"),
    "no-final-blank-line": ([DELTA.rstrip(b"\n") + b"\n"], "clean"),
    "split-at-every-byte": ([bytes([b]) for b in DELTA + b"data: [DONE]\n\n"], "clean"),
    # Without the blank line both lines are one event whose data is not JSON (WHATWG SSE).
    "no-blank-line-between-events": ([DELTA.rstrip(b"\n") + b"\n", b"data: [DONE]\n"], "error"),
    "2MiB-single-line": ([DELTA, b'data: {"x": "' + b"x" * BIG + b'"}\n\n', b"data: [DONE]\n\n"], "bounded"),
    "2MiB-without-newline": ([DELTA, b"data: " + b"y" * BIG], "bounded"),
}


@pytest.mark.parametrize("case", list(MALFORMED_SSE))
def test_malformed_sse_ends_cleanly(upstream: FakeOpenAI, healthy: FakeOpenAI, make_gateway: Any, ext: bool,
                                    case: str) -> None:
    chunks, outcome = MALFORMED_SSE[case]
    upstream.script(CHAT, Script(chunks=chunks, chunk_delay=0.05))
    gw = start(make_gateway, healthy, provider("garbage", upstream.base_url, retries=2), ext=ext)
    began = time.monotonic()
    with gw.client(KEY) as c:
        r = c.post(CHAT, json={"model": "m", "stream": True})
    assert time.monotonic() - began < 10  # ended, never a hang
    served: dict[str, tuple[int, int]] | None = {"m": (1, 0)}
    if outcome == "error" and r.status_code == 502:
        assert r.json()["error"]["code"] == "bad_upstream_response"
        served = None  # nothing was delivered, so nothing is booked
    else:
        assert r.status_code == 200
        evs = events(r.text)
        if outcome == "clean":
            assert evs[-1] == "[DONE]" and evs.count("[DONE]") == 1 and OK_EVENT in evs
            assert not any(e.startswith('{"error"') for e in evs)
            served = {"m": (1, 0)}  # no usage chunk: served, with no tokens
        elif outcome == "error":
            assert json.loads(evs[-1])["error"]["code"] == "bad_upstream_response" and "[DONE]" not in evs
            assert OK_EVENT not in evs  # nothing after the malformed frame is relayed
        else:
            assert evs[0] == OK_EVENT and json.loads(evs[-1])["error"] and "[DONE]" not in evs
            assert len([e for e in evs if e.startswith('{"error"')]) == 1
            assert len(r.content) < 3 * BIG  # bounded: never buffered twice over
            served = {"m": (1, 1)}  # one chunk delivered before the error: booked as an estimate
    assert len(upstream.requests(CHAT)) == 1
    assert_unaffected(gw, ext, admitted=1, served=served, stream=True)


def test_done_inside_text_does_not_suppress_the_terminator(upstream: FakeOpenAI, gateway: GatewayServer) -> None:
    # An upstream that ends its stream without `data: [DONE]` (the gateway adds it) while the model's
    # text happens to contain "[DONE]".
    upstream.script(CHAT, Script(chunks=[sse({"choices": [{"index": 0, "delta": {"content": "all [DONE]"}}]})]))
    with gateway.client(KEY) as c:
        r = c.post(CHAT, json={"model": "gpt-4o", "stream": True})
    assert events(r.text)[-1] == "[DONE]"


# --- 429 storms with retry-after ---------------------------------------------------------------

def too_many(retry_after: str) -> Script:
    return Script(status=429, headers={"retry-after": retry_after},
                  body=b'{"error":{"message":"slow down","type":"rate_limit_error","param":null,"code":null}}')


def test_429_short_retry_after_is_honoured(upstream: FakeOpenAI, healthy: FakeOpenAI, make_gateway: Any,
                                          ext: bool) -> None:
    upstream.script(CHAT, too_many("1"))
    gw = start(make_gateway, healthy, provider("busy", upstream.base_url, retries=2), ext=ext)
    began = time.monotonic()
    r = chat(gw)
    assert r.status_code == 200
    assert time.monotonic() - began >= 1.0  # waited as the upstream asked before the retry
    assert len(upstream.requests(CHAT)) == 2
    assert_unaffected(gw, ext, admitted=1, served={"m": (1, TOKENS)})


def test_429_long_retry_after_falls_over_at_once(upstream: FakeOpenAI, healthy: FakeOpenAI, make_gateway: Any,
                                                 ext: bool) -> None:
    spare = FakeOpenAI().start()
    try:
        upstream.script(CHAT, too_many("30"))
        gw = start(make_gateway, healthy, provider("busy", upstream.base_url, retries=2, weight=1),
                   provider("spare", spare.base_url, retries=2, weight=0), ext=ext)
        began = time.monotonic()
        r = chat(gw)
        assert r.status_code == 200 and r.headers["x-crabllm-provider"] == "spare"
        assert time.monotonic() - began < 5  # did not sit out the 30 s
        assert len(upstream.requests(CHAT)) == 1 and len(spare.requests(CHAT)) == 1
        assert_unaffected(gw, ext, admitted=1, served={"m": (1, TOKENS)})
    finally:
        spare.stop()


def test_429_storm_everywhere_answers_fast_with_retry_after(upstream: FakeOpenAI, healthy: FakeOpenAI,
                                                            make_gateway: Any, ext: bool) -> None:
    spare = FakeOpenAI().start()
    try:
        n = 20
        upstream.script(CHAT, *[too_many("30")] * n)
        spare.script(CHAT, *[too_many("45")] * n)
        gw = start(make_gateway, healthy, provider("busy", upstream.base_url, retries=2, weight=1),
                   provider("spare", spare.base_url, retries=2, weight=0), ext=ext, breaker=False)

        async def storm() -> list[httpx.Response]:
            async with httpx.AsyncClient(base_url=gw.url, headers={"authorization": f"Bearer {KEY}"}, timeout=30) as c:
                return await asyncio.gather(*(c.post(CHAT, json={"model": "m"}) for _ in range(n)))

        began = time.monotonic()
        rs = asyncio.run(storm())
        assert time.monotonic() - began < 5
        for r in rs:
            assert_envelope(r, 429)
            assert int(r.headers["retry-after"]) >= 30 and r.headers["x-should-retry"] == "false"
        # One attempt per deployment and request: a long retry-after is never retried in place.
        assert len(upstream.requests(CHAT)) == n and len(spare.requests(CHAT)) == n
        assert_unaffected(gw, ext, admitted=n)
    finally:
        spare.stop()


def test_429_every_retry_is_bounded_and_says_when(upstream: FakeOpenAI, healthy: FakeOpenAI, make_gateway: Any,
                                                  ext: bool) -> None:
    upstream.script(CHAT, *[too_many("1")] * 3)
    gw = start(make_gateway, healthy, provider("busy", upstream.base_url, retries=1), ext=ext)
    began = time.monotonic()
    r = chat(gw)
    assert 1.0 <= time.monotonic() - began < 5
    assert_envelope(r, 429)
    assert r.headers["retry-after"] == "1" and r.headers["x-should-retry"] == "false"
    assert len(upstream.requests(CHAT)) == 2
    assert_unaffected(gw, ext, admitted=1)


# --- 500 storms --------------------------------------------------------------------------------

BOOM = Script(status=500, body=b'{"error":{"message":"boom","type":"server_error","param":null,"code":null}}')


async def storm(gw: GatewayServer, n: int) -> list[httpx.Response]:
    async with httpx.AsyncClient(base_url=gw.url, headers={"authorization": f"Bearer {KEY}"}, timeout=30) as c:
        return await asyncio.gather(*(c.post(CHAT, json={"model": "m"}) for _ in range(n)))


def test_500_storm_attempts_are_exactly_bounded(upstream: FakeOpenAI, healthy: FakeOpenAI, make_gateway: Any,
                                                ext: bool) -> None:
    spare = FakeOpenAI().start()
    try:
        upstream.script(CHAT, *[BOOM] * 100)
        spare.script(CHAT, *[BOOM] * 100)
        gw = start(make_gateway, healthy, provider("a", upstream.base_url, retries=2, weight=1),
                   provider("b", spare.base_url, retries=1, weight=0), ext=ext, breaker=False)
        began = time.monotonic()
        r = chat(gw)
        assert time.monotonic() - began < 5  # backoffs of 0.1 s and 0.2 s, then 0.1 s
        error = assert_envelope(r, 500)
        assert error["message"] == "boom" and r.headers["x-should-retry"] == "false"
        assert len(upstream.requests(CHAT)) == 3 and len(spare.requests(CHAT)) == 2  # 1 + max_retries each
        began = time.monotonic()
        rs = asyncio.run(storm(gw, 10))
        assert time.monotonic() - began < 5
        for r in rs:
            assert_envelope(r, 500)
            assert r.headers["x-should-retry"] == "false"
        assert len(upstream.requests(CHAT)) == 3 + 10 * 3 and len(spare.requests(CHAT)) == 2 + 10 * 2
        assert_unaffected(gw, ext, admitted=11)
    finally:
        spare.stop()


def test_500_storm_with_the_breaker_on_stays_bounded(upstream: FakeOpenAI, healthy: FakeOpenAI, make_gateway: Any,
                                                     ext: bool) -> None:
    spare = FakeOpenAI().start()
    try:
        upstream.script(CHAT, *[BOOM] * 200)
        spare.script(CHAT, *[BOOM] * 200)
        gw = start(make_gateway, healthy, provider("a", upstream.base_url, retries=2, weight=1),
                   provider("b", spare.base_url, retries=1, weight=0), ext=ext)
        began = time.monotonic()
        rs = asyncio.run(storm(gw, 20)) + asyncio.run(storm(gw, 20))
        assert time.monotonic() - began < 10
        for r in rs:  # the upstream's 500, or the breaker's 503 once it opened: final either way
            assert_envelope(r, r.status_code)
            assert r.status_code in (500, 503)
        # Never more than 1 + max_retries per deployment and request; the breaker only sends fewer.
        assert len(upstream.requests(CHAT)) <= 40 * 3 and len(spare.requests(CHAT)) <= 40 * 2
        # Another model on another deployment is not touched by the storm.
        assert_unaffected(gw, ext, admitted=40)
    finally:
        spare.stop()


# --- clients that hang up mid-stream -----------------------------------------------------------

def test_fifty_mid_stream_disconnects_leave_nothing_open(upstream: FakeOpenAI, gateway: GatewayServer) -> None:
    n = 50
    upstream.script(CHAT, *[Script(chunks=stream_chunks("gpt-4o", ["tick"] * 200), chunk_delay=0.05)] * (n + 1))

    def hang_up() -> None:
        with httpx.Client(base_url=gateway.url, timeout=10) as c:
            with c.stream("POST", CHAT, json={"model": "gpt-4o", "stream": True},
                          headers={"authorization": f"Bearer {KEY}"}) as r:
                assert r.status_code == 200
                for _ in r.iter_raw():
                    break

    async def task_count(state: Any) -> int:
        return len(asyncio.all_tasks())

    def settled(cancelled: int) -> bool:
        stats = admin_get(gateway, "/v1/admin/stats")
        return upstream.cancelled == cancelled and stats["inflight"] == 0 and stats["streams"] == 0

    hang_up()  # warm up: the first stream creates the long-lived helpers
    assert wait_for(lambda: settled(1), 10)
    baseline = in_gateway(gateway, task_count)
    for _ in range(n):
        hang_up()
    # Every upstream stream was closed, nothing is in flight, no task was left behind.
    assert wait_for(lambda: settled(n + 1), 10), (upstream.cancelled, admin_get(gateway, "/v1/admin/stats")["inflight"])
    assert wait_for(lambda: in_gateway(gateway, task_count) <= baseline, 5), (in_gateway(gateway, task_count), baseline)
    assert wait_for(lambda: established_to(upstream.port) == 0, 5)
    with gateway.client(KEY) as c:
        r = c.post(CHAT, json={"model": "gpt-4o", "stream": True, "messages": []})
    assert events(r.text)[-1] == "[DONE]" and "Hello" in r.text
