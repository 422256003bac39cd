"""W3C Trace Context parsing, the hand-written OTLP encoder against the official classes, and sampling."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from crabllm.config.schema import TelemetryConfig
from crabllm.server.http import Exchange
from crabllm.telemetry.context import ACTIVE
from crabllm.telemetry.otlp import Encoder
from crabllm.telemetry.span import CLIENT, SERVER, Span, clean_tracestate, parse_traceparent, traceparent
from crabllm.telemetry.tracer import Telemetry

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.mark.parametrize(("header", "parsed"), [
    (f"00-{TRACE}-00f067aa0ba902b7-01", (int(TRACE, 16), 0x00f067aa0ba902b7, 1)),
    (f"00-{TRACE}-00f067aa0ba902b7-00", (int(TRACE, 16), 0x00f067aa0ba902b7, 0)),
    (f"01-{TRACE}-00f067aa0ba902b7-01-future", (int(TRACE, 16), 0x00f067aa0ba902b7, 1)),  # a later version
    (f"00-{TRACE}-00f067aa0ba902b7-01-extra", None),  # version 00 has exactly four fields
    (f"ff-{TRACE}-00f067aa0ba902b7-01", None),
    (f"00-{'0' * 32}-00f067aa0ba902b7-01", None),
    (f"00-{TRACE}-{'0' * 16}-01", None),
    (f"00-{TRACE.upper()}-00f067aa0ba902b7-01", None),  # lowercase hex only
    ("garbage", None),
])
def test_traceparent_parsing(header: str, parsed: tuple[int, int, int] | None) -> None:
    assert parse_traceparent(header) == parsed


def test_tracestate_is_passed_only_when_plausible() -> None:
    assert clean_tracestate("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE") == "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"
    assert clean_tracestate("x" * 600) == "" and clean_tracestate("a=\x00") == ""


attribute_values = st.one_of(st.text(max_size=50), st.booleans(), st.integers(-(2**63), 2**63 - 1),
                             st.floats(allow_nan=False))


@given(attributes=st.dictionaries(st.text(min_size=1, max_size=20), attribute_values, max_size=8),
       name=st.text(max_size=40), trace_id=st.integers(1, 2**128 - 1), span_id=st.integers(1, 2**64 - 1),
       parent=st.integers(0, 2**64 - 1), error=st.booleans(), message=st.text(max_size=30))
def test_encoder_matches_the_official_decoder(attributes: dict, name: str, trace_id: int, span_id: int, parent: int,
                                              error: bool, message: str) -> None:
    enc = Encoder({"service.name": "svc", "n": -3}, "crabllm", "1.0")
    span = Span(trace_id, span_id, parent, name, CLIENT, 1_700_000_000_000_000_000, dict(attributes),
                state="k=v", remote_parent=bool(parent & 1))
    span.end, span.error, span.message = span.start + 12345, error, message
    req = ExportTraceServiceRequest.FromString(enc.request([span, span]))
    (rs,) = req.resource_spans
    assert {a.key: a.value.WhichOneof("value") for a in rs.resource.attributes} == {"service.name": "string_value",
                                                                                   "n": "int_value"}
    (ss,) = rs.scope_spans
    assert (ss.scope.name, ss.scope.version, len(ss.spans)) == ("crabllm", "1.0", 2)
    s = ss.spans[0]
    assert int.from_bytes(s.trace_id, "big") == trace_id and int.from_bytes(s.span_id, "big") == span_id
    assert int.from_bytes(s.parent_span_id, "big") == parent and s.trace_state == "k=v"
    assert s.name == name.encode("utf-8", "replace").decode() and s.kind == CLIENT
    assert s.end_time_unix_nano - s.start_time_unix_nano == 12345
    assert s.flags == 0x101 | (0x200 if parent & 1 else 0)
    got = {}
    for a in s.attributes:
        got[a.key] = getattr(a.value, a.value.WhichOneof("value"))
    assert got == attributes
    assert s.status.code == (2 if error else 0) and (s.status.message == message if error else True)


def test_traceparent_format() -> None:
    assert traceparent(int(TRACE, 16), 0xb7, 1) == f"00-{TRACE}-00000000000000b7-01"
    assert SERVER == 2


async def test_sample_ratio_keeps_that_fraction_of_new_traces() -> None:
    tel = Telemetry(TelemetryConfig(sample_ratio=0.25), session=None)
    tel._rng = random.Random(7)
    scope = {"type": "http", "method": "POST", "path": "/v1/chat/completions", "headers": []}
    kept = 0
    for _ in range(4000):
        ex = Exchange(scope, None, None)
        tel.start(ex)
        kept += ex.trace.span is not None
        ACTIVE.reset(ex.trace.token)
    assert 850 < kept < 1150  # 1000 expected
