"""JSON must be UTF-8 (RFC 8259): a body with invalid UTF-8 anywhere is a 400 and never reaches an upstream."""

from __future__ import annotations

import pytest

from tests.conftest import ADMIN, KEY, basic_config
from tests.fakes.openai_upstream import FakeOpenAI

BAD = [
    b"\xff",  # never valid
    b"\xc3",  # a truncated two-byte sequence
    b"\xed\xa0\x80",  # an encoded UTF-16 surrogate
    b"\xe2\x82",  # a truncated three-byte sequence
]

ROUTES = [
    ("/v1/chat/completions", b'{"model":"gpt-4o","messages":[{"role":"user","content":"hi %s there"}]}', "openai"),
    ("/v1/chat/completions", b'{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"%s"}]}', "openai"),
    ("/v1/embeddings", b'{"model":"text-embedding-3-small","input":"%s"}', "openai"),
    ("/v1/messages", b'{"model":"gpt-4o","max_tokens":5,"messages":[{"role":"user","content":"%s"}]}', "anthropic"),
    ("/v1/messages/count_tokens", b'{"model":"gpt-4o","messages":[{"role":"user","content":"%s"}]}', "anthropic"),
    ("/v1/images/generations", b'{"model":"gpt-4o","prompt":"%s"}', "openai"),
    # In a field no view decodes: the whole body is checked, not only what the gateway reads.
    ("/v1/chat/completions", b'{"model":"gpt-4o","messages":[],"metadata":{"x":"%s"}}', "openai"),
]


@pytest.mark.parametrize("path,template,envelope", ROUTES)
def test_invalid_utf8_is_a_400_naming_the_problem(upstream: FakeOpenAI, make_gateway, path: str, template: bytes,
                                                   envelope: str) -> None:
    gw = make_gateway(basic_config(upstream.base_url))
    with gw.client(KEY) as c:
        for bad in BAD:
            r = c.post(path, content=template % bad, headers={"content-type": "application/json"})
            assert r.status_code == 400, (bad, r.text)
            body = r.json()
            if envelope == "anthropic":
                assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
                message = body["error"]["message"]
            else:
                assert body["error"]["type"] == "invalid_request_error"
                message = body["error"]["message"]
            assert "UTF-8" in message and "offset" in message
        # Valid multi-byte text still passes (the check is not "ASCII only").
        ok = c.post(path, content=template % "héllo ✓ 你好 🦀".encode(), headers={"content-type": "application/json"})
        assert ok.status_code < 400 or path.endswith("count_tokens") or path.endswith("generations"), ok.text
    assert all(b"\xff" not in r.body and b"\xc3\"" not in r.body for r in upstream.requests())
    assert len(upstream.requests()) <= 1  # only the valid request went upstream


def test_admin_routes_reject_invalid_utf8(upstream: FakeOpenAI, make_gateway) -> None:
    gw = make_gateway(basic_config(upstream.base_url))
    with gw.client(ADMIN) as a:
        for body in (b'{"name":"x\xff"}', b'{"name":"x","unknown":"\xff"}'):
            r = a.post("/v1/admin/keys", content=body, headers={"content-type": "application/json"})
            assert r.status_code == 400 and "UTF-8" in r.json()["error"]["message"]
