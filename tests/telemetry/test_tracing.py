"""OpenTelemetry traces through a real gateway into an in-process OTLP receiver: spans, links, propagation."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import ADMIN, KEY, basic_config
from tests.fakes.gateway import GatewayServer
from tests.fakes.openai_upstream import FakeOpenAI, Script
from tests.fakes.otlp_receiver import OTLPReceiver
from tests.telemetry.conftest import flushed, one, parent_of, telemetry, traceparent_of

CLIENT_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CLIENT_SPAN = "00f067aa0ba902b7"


def test_chat_request_and_attempt_spans(upstream: FakeOpenAI, receiver: OTLPReceiver,
                                        make_gateway: Callable[[str], GatewayServer]) -> None:
    gw = make_gateway(basic_config(upstream.base_url, telemetry(receiver)))
    with gw.client(KEY) as c:
        r = c.post("/v1/chat/completions", json={"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 200
    spans = flushed(gw, receiver)
    server, client = one(spans, "SERVER"), one(spans, "CLIENT")
    assert server.name == "chat gpt-4o" and client.name == "chat gpt-4o"
    assert server.parent_span_id == ""  # no traceparent from the client: a new trace
    assert client.trace_id == server.trace_id and client.parent_span_id == server.span_id
    a = server.attributes
    assert a["gen_ai.operation.name"] == "chat"
    assert a["gen_ai.request.model"] == "gpt-4o" and a["gen_ai.response.model"] == "gpt-4o"
    assert a["gen_ai.provider.name"] == "openai"
    assert (a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"]) == (11, 7)
    assert a["http.request.method"] == "POST" and a["http.route"] == "/v1/chat/completions"
    assert a["http.response.status_code"] == 200
    assert a["crabllm.key"] == "team-a" and a["crabllm.stream"] is False and a["crabllm.provider"] == "fake"
    assert a["crabllm.request_id"] == r.headers["x-request-id"]
    assert "error.type" not in a and server.status == "UNSET"
    assert KEY not in json.dumps(a)  # the key's name, never its secret
    assert server.resource["service.name"] == "crabllm-test"
    b = client.attributes
    assert b["gen_ai.provider.name"] == "openai" and b["crabllm.deployment"] == "fake" and b["crabllm.attempt"] == 1
    assert b["server.address"] == "127.0.0.1" and b["server.port"] == upstream.port
    assert b["gen_ai.request.model"] == "gpt-4o"
    # The upstream is a child of the attempt span.
    assert [parent_of(tp) for tp in traceparent_of(upstream)] == [(client.trace_id, client.span_id, True)]


def test_client_traceparent_is_the_parent(upstream: FakeOpenAI, receiver: OTLPReceiver,
                                          make_gateway: Callable[[str], GatewayServer]) -> None:
    gw = make_gateway(basic_config(upstream.base_url, telemetry(receiver)))
    headers = {"traceparent": f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-01", "tracestate": "vendor=abc"}
    with gw.client(KEY) as c:
        r = c.post("/v1/chat/completions", json={"model": "gpt-4o", "messages": []}, headers=headers)
        assert r.status_code == 200
    spans = flushed(gw, receiver)
    server, client = one(spans, "SERVER"), one(spans, "CLIENT")
    assert server.trace_id == CLIENT_TRACE and server.parent_span_id == CLIENT_SPAN
    assert client.trace_id == CLIENT_TRACE and client.parent_span_id == server.span_id
    sent = upstream.requests("/v1/chat/completions")[0].headers
    assert parent_of(sent["traceparent"]) == (CLIENT_TRACE, client.span_id, True)
    assert sent["tracestate"] == "vendor=abc"


def test_streaming_span_ends_with_the_stream(upstream: FakeOpenAI, receiver: OTLPReceiver,
                                             make_gateway: Callable[[str], GatewayServer]) -> None:
    gw = make_gateway(basic_config(upstream.base_url, telemetry(receiver)))
    with gw.client(KEY) as c:
        r = c.post("/v1/chat/completions", json={"model": "gpt-4o", "messages": [], "stream": True})
        assert r.status_code == 200 and "[DONE]" in r.text
    spans = flushed(gw, receiver)
    server, client = one(spans, "SERVER"), one(spans, "CLIENT")
    assert server.attributes["crabllm.stream"] is True
    assert (server.attributes["gen_ai.usage.input_tokens"], server.attributes["gen_ai.usage.output_tokens"]) == (11, 7)
    assert server.attributes["gen_ai.response.model"] == "gpt-4o"  # from the first chunk
    assert client.parent_span_id == server.span_id
    assert parent_of(traceparent_of(upstream)[0]) == (server.trace_id, client.span_id, True)


def test_retries_and_fallback_are_attempt_spans(upstream: FakeOpenAI, receiver: OTLPReceiver,
                                                make_gateway: Callable[[str], GatewayServer]) -> None:
    toml = f'''
admin_token = "{ADMIN}"

[providers.first]
kind = "openai"
base_url = "{upstream.base_url}"
models = ["gpt-4o"]
weight = 65535
max_retries = 1

[providers.second]
kind = "openai"
base_url = "{upstream.base_url}"
models = ["gpt-4o"]
weight = 1
max_retries = 0

[[keys]]
name = "team-a"
key = "{KEY}"
''' + telemetry(receiver)
    upstream.script("/v1/chat/completions", Script(status=500), Script(status=500))
    gw = make_gateway(toml)
    with gw.client(KEY) as c:
        r = c.post("/v1/chat/completions", json={"model": "gpt-4o", "messages": []})
    assert r.status_code == 200 and r.headers["x-crabllm-provider"] == "second"
    spans = flushed(gw, receiver)
    server = one(spans, "SERVER")
    attempts = sorted((s for s in spans if s.kind == "CLIENT"), key=lambda s: s.attributes["crabllm.attempt"])
    assert [(s.attributes["crabllm.deployment"], s.attributes["crabllm.attempt"]) for s in attempts] == \
        [("first", 1), ("first", 2), ("second", 3)]
    assert all(s.parent_span_id == server.span_id and s.trace_id == server.trace_id for s in attempts)
    failed = attempts[0].attributes
    assert failed["http.response.status_code"] == 500 and failed["error.type"] == "500"
    assert attempts[0].status == "ERROR" and attempts[1].attributes["http.request.resend_count"] == 1
    assert attempts[2].status == "UNSET" and "error.type" not in attempts[2].attributes
    assert server.attributes["crabllm.provider"] == "second" and server.attributes["http.response.status_code"] == 200
    # Each upstream request carried its own attempt's span as the parent.
    assert [parent_of(tp) for tp in traceparent_of(upstream)] == [(s.trace_id, s.span_id, True) for s in attempts]


def test_upstream_error_marks_the_request_span(upstream: FakeOpenAI, receiver: OTLPReceiver,
                                               make_gateway: Callable[[str], GatewayServer]) -> None:
    upstream.script("/v1/chat/completions", *[Script(status=503)] * 3)
    gw = make_gateway(basic_config(upstream.base_url, telemetry(receiver)))
    with gw.client(KEY) as c:
        assert c.post("/v1/chat/completions", json={"model": "gpt-4o", "messages": []}).status_code == 503
    with gw.client("sk-wrong-key-0000") as c:
        assert c.post("/v1/chat/completions", json={"model": "gpt-4o", "messages": []}).status_code == 401
    spans = flushed(gw, receiver)
    servers = {s.attributes["http.response.status_code"]: s for s in spans if s.kind == "SERVER"}
    failed, denied = servers[503], servers[401]
    assert failed.attributes["error.type"] == "503" and failed.status == "ERROR"
    assert len([s for s in spans if s.kind == "CLIENT" and s.parent_span_id == failed.span_id]) == 3
    # Refused before any upstream call: no attempt span, no key, a 4xx that is not the span's error.
    assert denied.attributes["error.type"] == "401" and denied.status == "UNSET" and denied.name == "chat"
    assert "crabllm.key" not in denied.attributes and not [s for s in spans if s.parent_span_id == denied.span_id]


def test_messages_and_embeddings(upstream: FakeOpenAI, receiver: OTLPReceiver,
                                 make_gateway: Callable[[str], GatewayServer]) -> None:
    gw = make_gateway(basic_config(upstream.base_url, telemetry(receiver)))
    with gw.client() as c:
        r = c.post("/v1/messages", headers={"x-api-key": KEY},
                   json={"model": "gpt-4o", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]})
        assert r.status_code == 200, r.text
        assert c.post("/v1/embeddings", headers={"authorization": f"Bearer {KEY}"},
                      json={"model": "text-embedding-3-small", "input": "x"}).status_code == 200
    spans = flushed(gw, receiver)
    servers = {s.attributes["http.route"]: s for s in spans if s.kind == "SERVER"}
    messages, embeddings = servers["/v1/messages"], servers["/v1/embeddings"]
    assert messages.name == "chat gpt-4o" and messages.attributes["gen_ai.operation.name"] == "chat"
    assert messages.attributes["gen_ai.usage.input_tokens"] == 11
    assert embeddings.name == "embeddings text-embedding-3-small"
    assert embeddings.attributes["gen_ai.operation.name"] == "embeddings"
    assert embeddings.attributes["gen_ai.usage.input_tokens"] == 5
    for server in (messages, embeddings):
        (child,) = [s for s in spans if s.parent_span_id == server.span_id]
        assert child.kind == "CLIENT"


def test_sample_ratio_zero_exports_nothing(upstream: FakeOpenAI, receiver: OTLPReceiver,
                                           make_gateway: Callable[[str], GatewayServer]) -> None:
    gw = make_gateway(basic_config(upstream.base_url, telemetry(receiver, "sample_ratio = 0.0\n")))
    with gw.client(KEY) as c:
        for _ in range(5):
            assert c.post("/v1/chat/completions", json={"model": "gpt-4o", "messages": []}).status_code == 200
    assert flushed(gw, receiver) == []
    # Still one trace per request, marked not sampled, so the upstream can follow the decision.
    sent = traceparent_of(upstream)
    assert len(sent) == 5 and not any(parent_of(tp)[2] for tp in sent)


def test_off_by_default_no_traceparent_upstream(gateway: GatewayServer, upstream: FakeOpenAI) -> None:
    with gateway.client(KEY) as c:
        headers = {"traceparent": f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-01"}
        r = c.post("/v1/chat/completions", json={"model": "gpt-4o", "messages": []}, headers=headers)
        assert r.status_code == 200
    assert traceparent_of(upstream) == [""]


LOADS_SCRIPT = r'''
import sys
from pathlib import Path
from tests.conftest import KEY, basic_config
from tests.fakes.gateway import GatewayServer
from tests.fakes.openai_upstream import FakeOpenAI

upstream = FakeOpenAI().start()
path = Path(sys.argv[1])
table = '\n[telemetry]\nendpoint = "http://127.0.0.1:9/v1/traces"\ntimeout = 1\n' if sys.argv[2] == "on" else ""
path.write_text(basic_config(upstream.base_url, table))
gw = GatewayServer(path).start()
with gw.client(KEY) as c:
    assert c.post("/v1/chat/completions", json={"model": "gpt-4o", "messages": []}).status_code == 200
    assert c.post("/v1/chat/completions", json={"model": "gpt-4o", "messages": [], "stream": True}).status_code == 200
gw.stop()
upstream.stop()
print(sorted(m for m in sys.modules if m.startswith(("opentelemetry.", "crabllm.telemetry."))))
'''


@pytest.mark.parametrize("mode", ["off", "on"])
def test_modules_loaded(tmp_path: Path, mode: str) -> None:
    """Off loads none of the tracer; on loads it, and neither needs any OpenTelemetry package.

    (Litestar probes for its own OpenTelemetry plugin when an app is built, which may leave the bare
    `opentelemetry` namespace package in sys.modules; nothing below it is imported.)
    """
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", LOADS_SCRIPT, str(tmp_path / "crabllm.toml"), mode], cwd=root,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    loaded = eval(out.stdout.strip().splitlines()[-1])  # noqa: S307 - our own subprocess's repr of a list
    assert not [m for m in loaded if m.startswith("opentelemetry.")]
    tracer = {"crabllm.telemetry.tracer", "crabllm.telemetry.exporter", "crabllm.telemetry.otlp"}
    if mode == "off":
        assert set(loaded) == {"crabllm.telemetry.context", "crabllm.telemetry.slot"}
    else:
        assert tracer <= set(loaded)


def test_reload_turns_tracing_on_and_rebuilds_it_on_change(upstream: FakeOpenAI, receiver: OTLPReceiver,
                                                           make_gateway: Callable[[str], GatewayServer]) -> None:
    gw = make_gateway(basic_config(upstream.base_url))
    body = {"model": "gpt-4o", "messages": []}
    with gw.client(KEY) as c, gw.client(ADMIN) as admin:
        assert c.post("/v1/chat/completions", json=body).status_code == 200
        for name in ("svc-one", "svc-two"):
            table = f'\n[telemetry]\nendpoint = "{receiver.endpoint}"\nservice_name = "{name}"\n'
            gw.config_path.write_text(basic_config(upstream.base_url, table))
            r = admin.post("/v1/admin/reload")
            assert r.status_code == 200 and r.json()["last_reload"]["ok"] is True, r.text
            assert c.post("/v1/chat/completions", json=body).status_code == 200
    spans = flushed(gw, receiver)  # the retired Telemetry is flushed at exit too
    assert sorted(s.resource["service.name"] for s in spans if s.kind == "SERVER") == ["svc-one", "svc-two"]
    sent = traceparent_of(upstream)
    assert sent[0] == "" and all(sent[1:])  # propagation starts with the reload that turned tracing on


def test_unreachable_collector_never_fails_requests(upstream: FakeOpenAI,
                                                    make_gateway: Callable[[str], GatewayServer]) -> None:
    table = '\n[telemetry]\nendpoint = "http://127.0.0.1:9/v1/traces"\ntimeout = 1\n'
    gw = make_gateway(basic_config(upstream.base_url, table))
    with gw.client(KEY) as c:
        for _ in range(3):
            assert c.post("/v1/chat/completions", json={"model": "gpt-4o", "messages": []}).status_code == 200
    gw.stop()  # the final export fails (logged), the shutdown completes
