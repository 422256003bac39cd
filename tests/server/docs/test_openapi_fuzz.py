"""schemathesis against the live /openapi.json: no 5xx, and every response matches its documented status, type and schema."""

from __future__ import annotations

import time
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import ADMIN, KEY, basic_config
from tests.fakes.gateway import GatewayServer
from tests.fakes.openai_upstream import FakeOpenAI
from tests.server.docs.test_openapi import MOCK, ensure_openapi

EXAMPLES = 30  # per operation, positive and negative cases mixed; the whole run takes ~15 s
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
# Real models to swap into generated bodies half of the time, so the success paths (plain,
# streamed, translated, binary) are fuzzed too and not only "model not found".
MODELS = {
    "/v1/chat/completions": ["gpt-4o", "mock-gpt"], "/v1/embeddings": ["text-embedding-3-small", "mock-embed"],
    "/v1/messages": ["gpt-4o", "mock-gpt"], "/v1/messages/count_tokens": ["gpt-4o", "mock-gpt"],
    "/v1/images/generations": ["mock-gpt"], "/v1/audio/speech": ["mock-gpt"],
    "/v1/audio/transcriptions": ["mock-gpt"],
}
SKIP = {"/v1/admin/events"}  # an endless SSE feed; test_admin covers it
EXTENSIONS = "\n[extensions.usage]\n\n[extensions.audit]\n\n[extensions.cache]\n\n[extensions.budget]\ndefault_budget = 1000.0\n"
NAMES = st.one_of(st.none(), st.from_regex(r"[A-Za-z0-9._-]{1,24}", fullmatch=True))
# Existing names, so the routes on one key or provider reach past "not found".
EXISTING = st.one_of(st.none(), st.sampled_from(["team-a", "restricted", "fake", "mock"]))


def prepare(case: Any, upstream: FakeOpenAI, model: str | None, name: str | None, existing: str | None) -> None:
    path = case.operation.path
    if existing is not None and isinstance(case.path_parameters, dict) and "name" in case.path_parameters:
        case.path_parameters["name"] = existing
    body = case.body
    if not isinstance(body, dict):
        return
    if model is not None and "model" in body:
        body["model"] = model
    if name is not None and "name" in body and case.method == "POST":
        body["name"] = name  # a valid name half of the time, so creation succeeds too
    if path.startswith("/v1/admin/providers"):
        if "base_url" in body or case.method == "POST":
            # Never let a generated URL make the gateway call out (model discovery, live tests).
            body["base_url"] = upstream.base_url


def token_for(path: str) -> str:
    return ADMIN if path.startswith("/v1/admin") or path == "/metrics" else KEY


def test_control_characters_in_provider_secrets(gateway: GatewayServer, upstream: FakeOpenAI) -> None:
    with gateway.client(ADMIN) as a:
        r = a.post("/v1/admin/providers", json={"name": "p2", "base_url": upstream.base_url, "api_key": "sk-a\nb"})
        assert r.status_code == 400
        r = a.post("/v1/admin/providers", json={"name": "p3", "base_url": upstream.base_url, "api_key": "sk-a\nb",
                                                "models": ["zz"]})
        assert r.status_code == 400
        assert a.post("/v1/admin/providers/p3/test").status_code != 500
    with gateway.client(KEY) as c:
        assert c.post("/v1/chat/completions", json={"model": "zz", "messages": []}).status_code != 500


def fuzz_config(upstream: FakeOpenAI) -> str:
    # Keep the [providers.*] tables together: the editor must be able to add one more.
    return basic_config(upstream.base_url).replace("[[keys]]", MOCK.strip() + "\n\n[[keys]]", 1) + EXTENSIONS


@pytest.mark.timeout(120)
def test_schemathesis_finds_nothing(upstream: FakeOpenAI, make_gateway) -> None:
    gw: GatewayServer = ensure_openapi(make_gateway(fuzz_config(upstream)))
    schema = schemathesis.openapi.from_url(gw.url + "/openapi.json")
    operations = [r.ok() for r in schema.get_all_operations()]
    # Public routes first: admin edits (new providers, revoked keys) must not change what they see;
    # deletions last, so the other routes on one key or provider still find the existing ones.
    operations.sort(key=lambda op: (op.path.startswith("/v1/admin"), op.method.lower() == "delete"))
    failures: list[str] = []
    started = time.monotonic()
    for op in operations:
        if op.path in SKIP:
            continue
        headers = {"authorization": f"Bearer {token_for(op.path)}"}
        strategy = st.one_of(op.as_strategy(), op.as_strategy(schemathesis.GenerationMode.NEGATIVE))
        models = st.one_of(st.none(), st.sampled_from(MODELS[op.path])) if op.path in MODELS else st.none()

        @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True, print_blob=False,
                  suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
        @given(case=strategy, model=models, name=NAMES, existing=EXISTING)
        def fuzz(case: Any, model: str | None, name: str | None, existing: str | None) -> None:
            prepare(case, upstream, model, name, existing)
            case.call_and_validate(base_url=gw.url, headers=headers, checks=CHECKS, timeout=10)

        try:
            fuzz()
        except BaseException as e:  # schemathesis raises an exception group with every distinct failure
            if isinstance(e, KeyboardInterrupt):
                raise
            failures.append(f"{op.method.upper()} {op.path}:\n{e}")
    assert not failures, "\n\n".join(failures)
    assert time.monotonic() - started < 60
