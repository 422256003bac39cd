"""Every upstream kind gets the attempt's traceparent and its GenAI provider name (translated ones too)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.conftest import KEY
from tests.fakes.gateway import GatewayServer
from tests.fakes.multi import BEDROCK, CLAUDE, GEMINI, Fakes, _clean_fakes, fakes, multi_config  # noqa: F401
from tests.fakes.otlp_receiver import OTLPReceiver
from tests.telemetry.conftest import flushed, parent_of, telemetry

CASES = [  # model, provider name, the fake that serves it, the gen_ai.provider.name
    (CLAUDE, "claude", "anthropic", "anthropic"),
    (GEMINI, "gem", "gemini", "gcp.gemini"),
    (BEDROCK, "br", "bedrock", "aws.bedrock"),
    ("gpt-4o", "oai", "openai", "openai"),
]


@pytest.mark.parametrize("stream", [False, True])
def test_each_kind_is_traced_and_propagated(fakes: Fakes, receiver: OTLPReceiver,  # noqa: F811 - a fixture
                                            make_gateway: Callable[[str], GatewayServer], stream: bool) -> None:
    gw = make_gateway(multi_config(fakes, telemetry(receiver)))
    with gw.client(KEY) as c:
        for model, *_ in CASES:
            r = c.post("/v1/chat/completions", json={"model": model, "stream": stream,
                                                     "messages": [{"role": "user", "content": "hi"}]})
            assert r.status_code == 200, (model, r.text)
        r = c.post("/v1/messages", json={"model": CLAUDE, "max_tokens": 5, "stream": stream,
                                         "messages": [{"role": "user", "content": "hi"}]})
        assert r.status_code == 200, r.text
    spans = flushed(gw, receiver)
    servers = [s for s in spans if s.kind == "SERVER"]
    assert len(servers) == len(CASES) + 1
    for model, deployment, fake_name, system in CASES:
        (server,) = [s for s in servers if s.attributes["gen_ai.request.model"] == model
                     and s.attributes["http.route"] == "/v1/chat/completions"]
        (attempt,) = [s for s in spans if s.parent_span_id == server.span_id]
        assert server.attributes["gen_ai.provider.name"] == system == attempt.attributes["gen_ai.provider.name"]
        assert attempt.attributes["crabllm.deployment"] == deployment
        assert server.attributes["crabllm.stream"] is stream
        assert server.attributes["gen_ai.usage.input_tokens"] > 0
        fake = getattr(fakes, fake_name)
        sent = [parent_of(r.headers["traceparent"]) for r in fake.requests() if "traceparent" in r.headers]
        assert (server.trace_id, attempt.span_id, True) in sent, fake_name
    # Bedrock requests are SigV4-signed: the added traceparent must not break the signature.
    assert fakes.bedrock.checks and all(check.ok for check in fakes.bedrock.checks)
    (messages,) = [s for s in servers if s.attributes["http.route"] == "/v1/messages"]
    assert messages.name == f"chat {CLAUDE}" and messages.attributes["gen_ai.provider.name"] == "anthropic"
