"""SSERelay properties: any split of the bytes relays the same events; a malformed frame cuts exactly there."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from crabllm.server.proxy.stream import SSERelay


def event(text: str) -> bytes:
    return b"data: " + json.dumps({"choices": [{"index": 0, "delta": {"content": text}}]}).encode() + b"\n\n"


USAGE = b'data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4}}\n\n'
texts = st.lists(st.text(max_size=30), min_size=1, max_size=8)
cuts = st.lists(st.integers(min_value=0, max_value=4000), max_size=12)


def run(data: bytes, cuts: list[int], strip: bool = False) -> tuple[bytes, SSERelay]:
    relay = SSERelay(strip)
    out = []
    points = sorted({c % (len(data) + 1) for c in cuts})
    last = 0
    for p in [*points, len(data)]:
        out.append(relay.feed(data[last:p]))
        last = p
        if relay.error is not None:
            return b"".join(out), relay
    out.append(relay.finish())
    return b"".join(out), relay


@settings(max_examples=150, deadline=None)
@given(texts, cuts, st.booleans())
def test_any_split_relays_the_same_events(pieces: list[str], cuts: list[int], strip: bool) -> None:
    data = b"".join(event(t) for t in pieces) + USAGE + b"data: [DONE]\n\n"
    whole, relay_whole = run(data, [], strip)
    split, relay = run(data, cuts, strip)
    assert split == whole and relay.error is None and relay.usage == (3, 4) == relay_whole.usage
    assert whole.endswith(b"data: [DONE]\n\n") and (USAGE in whole) is not strip


@settings(max_examples=150, deadline=None)
@given(texts, st.integers(min_value=0, max_value=8), cuts,
       st.sampled_from([b"data: {oops\n\n", b"data: hello\n\n", b"data: 42\n\n", b'data: {"a":1}}\n\n',
                        b"data: [1,2]\n\n"]))
def test_a_malformed_frame_cuts_the_stream_exactly_there(pieces: list[str], at: int, cuts: list[int],
                                                          bad: bytes) -> None:
    at = min(at, len(pieces))
    good = [event(t) for t in pieces]
    data = b"".join(good[:at]) + bad + b"".join(good[at:]) + b"data: [DONE]\n\n"
    out, relay = run(data, cuts)
    assert relay.error is not None and relay.error.status == 502
    assert out == b"".join(good[:at])  # every event before it, nothing after it, no [DONE]
    assert relay.fail(relay.error).startswith(b'data: {"error"')


def crlf(data: bytes, end: bytes) -> bytes:
    return data.replace(b"\n", end)


def test_crlf_and_cr_line_ends_split_at_every_byte_relay_the_same_events() -> None:
    """A CR at the end of one read and its LF at the start of the next once turned one line end into
    two; the extra blank line then sent the event loop round forever (a hung stream)."""
    lf = event("x") + event("y") + USAGE + b"data: [DONE]\n\n"
    expect, _ = run(lf, [])
    for end in (b"\r\n", b"\r"):
        data = crlf(lf, end)
        for cut in range(len(data) + 1):
            out, relay = run(data, [cut])
            assert out == expect and relay.error is None and relay.usage == (3, 4), (end, cut)
        for cut in range(0, len(data), 7):  # many small reads, as a slow upstream sends them
            out, _ = run(data, list(range(cut % 7, len(data), 7)))
            assert out == expect, (end, cut)


def test_a_blank_line_after_the_last_event_dispatches_nothing() -> None:
    relay = SSERelay(False)
    out = relay.feed(event("x") + b"\n") + relay.feed(b"\n" + b"data: [DONE]\n\n")
    assert relay.error is None and out.startswith(event("x")) and out.endswith(b"data: [DONE]\n\n")
    assert relay.feed(b"") == b"" and relay.events == 1
