"""The /v1/responses stream relays give the same bytes, usage and final object however the upstream bytes are split."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crabllm.errors import UpstreamUnavailable
from crabllm.server.proxy.responses_relay import ResponsesFromChatRelay, ResponsesPassRelay
from tests.fakes.openai_upstream import stream_chunks
from tests.fakes.responses_upstream import text_events
from tests.translate._split import reads

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NATIVE = b"".join(text_events("m", "resp_split", ["Hel", "lo ", "wörld"], (21, 4))).replace(b"\n", b"\r\n", 6)
CHAT = b"".join(stream_chunks("m", ["Hel", "lo ", "wörld"], (21, 4)))


def events(data: bytes) -> list[dict]:
    text = data.decode().replace("\r\n", "\n")
    return [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: ")]


@FAST
@given(st.data())
def test_pass_relay_forwards_every_byte_for_any_split(data: st.DataObject) -> None:
    relay = ResponsesPassRelay()
    out = b"".join(relay.feed(piece) for piece in data.draw(reads(NATIVE))) + relay.finish()
    assert out == NATIVE and relay.error is None
    assert relay.usage == (21, 4) and relay.response_id == "resp_split"
    assert json.loads(relay.response or b"")["status"] == "completed"


@FAST
@given(st.data())
def test_pass_relay_stops_before_a_non_json_event(data: st.DataObject) -> None:
    good = text_events("m", "resp_bad", ["a", "b"])
    stream = b"".join(good[:4]) + b"event: x\ndata: {nope\n\n" + b"".join(good[4:])
    relay = ResponsesPassRelay()
    out = b""
    for piece in data.draw(reads(stream)):
        out += relay.feed(piece)
        if relay.error is not None:
            break
    assert out == b"".join(good[:4]) and relay.error is not None and relay.error.status == 502
    tail = events(relay.fail(relay.error))
    assert [e["type"] for e in tail] == ["response.failed"] and tail[0]["sequence_number"] == 4


def test_pass_relay_reports_a_stream_that_ends_early() -> None:
    good = text_events("m", "resp_short", ["a"])
    relay = ResponsesPassRelay()
    out = relay.feed(b"".join(good[:3])) + relay.finish()
    assert out == b"".join(good[:3]) and relay.error is not None  # relay_stream raises it, then sends fail()
    assert events(relay.fail(relay.error))[-1]["type"] == "response.failed"
    relay = ResponsesPassRelay()
    assert events(relay.fail(UpstreamUnavailable("gone")))[0]["type"] == "error"  # nothing announced yet


@FAST
@given(st.data())
def test_chat_relay_makes_the_same_events_for_any_split(data: st.DataObject) -> None:
    relay = ResponsesFromChatRelay({"model": "m", "input": "hi"}, response_id="resp_t", created_at=1, model="m")
    out = b"".join(relay.feed(piece) for piece in data.draw(reads(CHAT))) + relay.finish()
    got = events(out)
    assert [e["sequence_number"] for e in got] == list(range(len(got)))
    assert "".join(e["delta"] for e in got if e["type"] == "response.output_text.delta") == "Hello wörld"
    assert got[-1]["type"] == "response.completed" and relay.usage == (21, 4)
    assert relay.response is not None and relay.response["id"] == "resp_t"
