"""SSE decoder: spec rules, line endings, and identical output for any split of the stream."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crabllm.errors import UpstreamProtocolError
from crabllm.translate.sse import SSEDecoder, SSEEvent, encode_event, event_json
from tests.translate._split import all_single_byte, reads


def decode(chunks: list[bytes]) -> list[SSEEvent]:
    decoder = SSEDecoder()
    events = [e for chunk in chunks for e in decoder.feed(chunk)]
    return events + decoder.flush()


def test_basic_fields_and_blank_line_dispatch() -> None:
    stream = b"event: message_start\ndata: {\"a\":1}\n\nid: 7\ndata:no-space\n\n"
    assert decode([stream]) == [
        SSEEvent(event="message_start", data='{"a":1}', id=None),
        SSEEvent(event=None, data="no-space", id="7"),
    ]


@pytest.mark.parametrize("eol", [b"\n", b"\r\n", b"\r"])
def test_line_endings(eol: bytes) -> None:
    stream = eol.join([b"event: x", b"data: one", b"data: two", b"", b": comment", b"data: 3", b"", b""])
    assert decode([stream]) == [SSEEvent(event="x", data="one\ntwo"), SSEEvent(data="3")]


def test_comments_unknown_fields_and_empty_data_events_are_ignored() -> None:
    stream = b": keep-alive\n\nretry: 10\nfoo: bar\n\nevent: only-type\n\ndata\n\n"
    # `data` with no colon is a data field with an empty value: one event with data "".
    assert decode([stream]) == [SSEEvent(data="")]


def test_only_one_leading_space_is_stripped_and_colons_in_values_survive() -> None:
    assert decode([b"data:  two spaces: yes\n\n"]) == [SSEEvent(data=" two spaces: yes")]


def test_bom_is_skipped_once() -> None:
    assert decode([b"\xef\xbb", b"\xbfdata: a\n\n"]) == [SSEEvent(data="a")]


def test_split_inside_utf8_and_crlf() -> None:
    stream = "data: héllo 🦀\r\n\r\n".encode()
    assert decode(all_single_byte(stream)) == [SSEEvent(data="héllo 🦀")]


def test_flush_dispatches_unterminated_last_event() -> None:
    assert decode([b"data: [DONE]"]) == [SSEEvent(data="[DONE]")]
    assert decode([b"data: x\n"]) == [SSEEvent(data="x")]
    assert decode([b"data: x\r"]) == [SSEEvent(data="x")]


def test_id_persists_and_null_id_is_ignored() -> None:
    events = decode([b"id: 1\ndata: a\n\ndata: b\n\nid: x\0y\ndata: c\n\n"])
    assert [e.id for e in events] == ["1", "1", "1"]


def test_encode_event_round_trips() -> None:
    raw = encode_event(b'{"x":1}', "ping") + encode_event(b"line1\nline2\r\nline3")
    assert raw.startswith(b"event: ping\ndata: {\"x\":1}\n\n")
    assert decode([raw]) == [SSEEvent(event="ping", data='{"x":1}'), SSEEvent(data="line1\nline2\nline3")]


def test_event_json() -> None:
    assert event_json(SSEEvent(data='{"a":[1]}')) == {"a": [1]}
    with pytest.raises(UpstreamProtocolError):
        event_json(SSEEvent(data="not json"))


_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"), max_size=12)
_event = st.tuples(st.one_of(st.none(), st.text("abcdefgh_", min_size=1, max_size=8)), st.lists(_text, min_size=1, max_size=3))


@st.composite
def streams(draw: st.DrawFn) -> tuple[bytes, list[SSEEvent]]:
    events = draw(st.lists(_event, max_size=6))
    eol = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    out, expected = [], []
    for name, lines in events:
        if draw(st.booleans()):
            out.append(": comment" + eol)
        if name:
            out.append(f"event: {name}{eol}")
        values = []
        for line in lines:
            space = draw(st.sampled_from(["", " "]))
            out.append(f"data:{space}{line}{eol}")
            # The decoder strips exactly one space after the colon, whichever wrote it.
            values.append(line[1:] if not space and line.startswith(" ") else line)
        out.append(eol)
        expected.append(SSEEvent(event=name, data="\n".join(values)))
    return "".join(out).encode(), expected


@settings(max_examples=150, deadline=None)
@given(st.data(), streams())
def test_any_split_gives_the_same_events(data: st.DataObject, stream: tuple[bytes, list[SSEEvent]]) -> None:
    raw, expected = stream
    chunks = data.draw(reads(raw))
    assert decode(chunks) == decode([raw]) == expected
