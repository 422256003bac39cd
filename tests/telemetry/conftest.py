"""Fixtures for the tracing tests: an OTLP receiver on loopback, and helpers to read what it got."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.gateway import GatewayServer
from tests.fakes.openai_upstream import FakeOpenAI
from tests.fakes.otlp_receiver import OTLPReceiver, ReceivedSpan


@pytest.fixture
def receiver() -> Iterator[OTLPReceiver]:
    fake = OTLPReceiver().start()
    yield fake
    fake.stop()


def telemetry(receiver: OTLPReceiver, extra: str = "") -> str:
    return f'\n[telemetry]\nendpoint = "{receiver.endpoint}"\nservice_name = "crabllm-test"\n{extra}'


def flushed(gw: GatewayServer, receiver: OTLPReceiver) -> list[ReceivedSpan]:
    """Stop the gateway: its lifespan exit flushes the span exporter into the receiver."""
    gw.stop()
    return list(receiver.spans)


def one(spans: list[ReceivedSpan], kind: str) -> ReceivedSpan:
    found = [s for s in spans if s.kind == kind]
    assert len(found) == 1, [(s.name, s.kind) for s in spans]
    return found[0]


def traceparent_of(upstream: FakeOpenAI) -> list[str]:
    return [r.headers.get("traceparent", "") for r in upstream.requests("/v1/chat/completions")]


def parent_of(traceparent: str) -> tuple[str, str, bool]:
    """(trace id, parent span id, sampled) of a W3C traceparent (flags beyond `sampled` may be set: level 2)."""
    version, trace_id, span_id, flags = traceparent.split("-")
    assert version == "00" and len(trace_id) == 32 and len(span_id) == 16 and len(flags) == 2
    return trace_id, span_id, bool(int(flags, 16) & 1)
