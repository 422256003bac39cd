"""AWS event-stream codec: header types, CRC checks, incremental decoding, exception frames."""

from __future__ import annotations

import struct
import uuid
from datetime import datetime, timezone

import msgspec
import pytest
from botocore.eventstream import EventStreamBuffer
from hypothesis import given, settings
from hypothesis import strategies as st

from crabllm.errors import UpstreamError, UpstreamProtocolError
from crabllm.translate.eventstream import (
    EventStreamDecoder, Frame, Int8, Int16, Int64, encode_frame, exception_status, frame_to_event,
)
from tests.translate._split import all_single_byte, reads

ALL_TYPES = {
    "t": True,
    "f": False,
    "byte": Int8(-7),
    "short": Int16(-300),
    "int": 123456,
    "long": Int64(2**40),
    "bytes": b"\x00\x01\xff",
    "str": "héllo",
    "ts": datetime(2024, 6, 20, 12, 0, 0, 123000, tzinfo=timezone.utc),
    "uuid": uuid.UUID("12345678-1234-5678-1234-567812345678"),
}


def event(event_type: str, payload: dict) -> bytes:
    headers = {":event-type": event_type, ":content-type": "application/json", ":message-type": "event"}
    return encode_frame(headers, msgspec.json.encode(payload))


def decode_all(chunks: list[bytes]) -> list[Frame]:
    decoder = EventStreamDecoder()
    frames = [f for c in chunks for f in decoder.feed(c)]
    assert decoder.pending() == 0
    return frames


def test_every_header_type_round_trips() -> None:
    [frame] = decode_all([encode_frame(ALL_TYPES, b"payload")])
    assert frame.headers == ALL_TYPES
    assert frame.payload == b"payload"
    assert type(frame.headers["byte"]) is Int8 and type(frame.headers["long"]) is Int64


def test_matches_botocore_parser() -> None:
    raw = encode_frame(ALL_TYPES, b'{"x":1}') + event("messageStop", {"stopReason": "end_turn"})
    buffer = EventStreamBuffer()
    buffer.add_data(raw)
    theirs = list(buffer)
    ours = decode_all([raw])
    assert [m.payload for m in theirs] == [f.payload for f in ours]
    assert theirs[1].headers[":event-type"] == ours[1].headers[":event-type"] == "messageStop"
    assert theirs[0].headers["int"] == 123456 and theirs[0].headers["str"] == "héllo"


def test_byte_by_byte_feed() -> None:
    raw = event("messageStart", {"role": "assistant"}) + event("messageStop", {})
    assert [f.headers[":event-type"] for f in decode_all(all_single_byte(raw))] == ["messageStart", "messageStop"]


def test_empty_frame_is_sixteen_bytes() -> None:
    raw = encode_frame({}, b"")
    assert len(raw) == 16
    assert decode_all([raw]) == [Frame(headers={}, payload=b"")]


def test_absurd_lengths_are_rejected() -> None:
    def prelude(total: int, headers: int) -> bytes:
        import zlib
        head = struct.pack(">II", total, headers)
        return head + struct.pack(">I", zlib.crc32(head))

    for total, headers in ((8, 0), (2**31, 0), (100, 90)):
        with pytest.raises(UpstreamProtocolError):
            EventStreamDecoder().feed(prelude(total, headers))


def test_malformed_headers_are_rejected() -> None:
    good = encode_frame({"a": "b"}, b"")
    # Rewrite the string length so it runs past the header block, then fix both CRCs.
    import zlib
    body = bytearray(good[:-4])
    struct.pack_into(">H", body, 12 + 1 + 1 + 1, 99)
    bad = bytes(body) + struct.pack(">I", zlib.crc32(bytes(body)))
    with pytest.raises(UpstreamProtocolError, match="headers"):
        EventStreamDecoder().feed(bad)


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_any_corrupted_byte_is_detected(data: st.DataObject) -> None:
    raw = bytearray(event("contentBlockDelta", {"delta": {"text": "hi"}, "contentBlockIndex": 0}))
    pos = data.draw(st.integers(0, len(raw) - 1))
    raw[pos] ^= data.draw(st.integers(1, 255))
    with pytest.raises(UpstreamProtocolError, match="CRC|length"):
        decoder = EventStreamDecoder()
        decoder.feed(bytes(raw))
        # A corrupted total length may make the decoder wait for more bytes; the prelude CRC
        # check runs first, so reaching here means the frame was accepted: a failure.
        raise AssertionError("corruption not detected")


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_any_split_gives_the_same_frames(data: st.DataObject) -> None:
    raw = b"".join(event("contentBlockDelta", {"delta": {"text": f"part {i} é"}, "contentBlockIndex": 0}) for i in range(4))
    assert decode_all(data.draw(reads(raw))) == decode_all([raw])


def test_frame_to_event_uses_the_header_not_the_payload() -> None:
    [frame] = decode_all([event("contentBlockDelta", {"delta": {"text": "x"}, "contentBlockIndex": 0})])
    assert frame_to_event(frame) == ("contentBlockDelta", {"delta": {"text": "x"}, "contentBlockIndex": 0})


@pytest.mark.parametrize(("kind", "status"), [
    ("throttlingException", 429), ("validationException", 400), ("accessDeniedException", 403),
    ("modelStreamErrorException", 500), ("internalServerException", 500), ("serviceUnavailableException", 503),
    ("somethingNewException", 502),
])
def test_exception_frames_raise_upstream_errors(kind: str, status: int) -> None:
    raw = encode_frame({":message-type": "exception", ":exception-type": kind, ":content-type": "application/json"},
                       b'{"message":"slow down"}')
    [frame] = decode_all([raw])
    with pytest.raises(UpstreamError) as info:
        frame_to_event(frame)
    assert info.value.status == status == exception_status(kind)
    assert "slow down" in info.value.message and kind in info.value.message


def test_error_frames_raise_upstream_errors() -> None:
    raw = encode_frame({":message-type": "error", ":error-code": "ThrottlingException", ":error-message": "too fast"}, b"")
    with pytest.raises(UpstreamError) as info:
        frame_to_event(decode_all([raw])[0])
    assert info.value.status == 429 and "too fast" in info.value.message


def test_bad_event_payloads() -> None:
    with pytest.raises(UpstreamProtocolError):
        frame_to_event(Frame(headers={":message-type": "event"}, payload=b"{}"))
    with pytest.raises(UpstreamProtocolError):
        frame_to_event(Frame(headers={":event-type": "x"}, payload=b"[1]"))
    assert frame_to_event(Frame(headers={":event-type": "x"}, payload=b"")) == ("x", {})
