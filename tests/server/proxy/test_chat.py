"""Chat completions through a real gateway to the fake upstream: pass-through, errors, auth."""

from __future__ import annotations

import json

from tests.conftest import KEY, OTHER_KEY, ADMIN, basic_config
from tests.fakes.openai_upstream import FakeOpenAI, Script, chat_reply


def test_non_streaming_bytes_pass_through_untouched(gateway, upstream: FakeOpenAI) -> None:
    upstream.default_reply = chat_reply("gpt-4o", service_tier="default", custom_field={"x": [1, 2]})
    body = b'{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"logprobs":true,"n":2,"weird":{"a":1}}'
    with gateway.client(KEY) as c:
        r = c.post("/v1/chat/completions", content=body)
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    assert r.headers["x-crabllm-provider"] == "fake"
    assert len(r.headers["x-request-id"]) >= 16
    assert r.json()["custom_field"] == {"x": [1, 2]}
    sent = upstream.requests("/v1/chat/completions")[0]
    assert sent.body == body  # byte-identical
    assert sent.headers["Authorization"] == "Bearer sk-upstream-secret"


def test_request_id_is_echoed(gateway) -> None:
    with gateway.client(KEY) as c:
        r = c.post("/v1/chat/completions", json={"model": "gpt-4o", "messages": []}, headers={"x-request-id": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123"


def test_alias_is_rewritten_upstream(upstream: FakeOpenAI, make_gateway) -> None:
    gw = make_gateway(basic_config(upstream.base_url, '\n[aliases]\ngpt4 = "gpt-4o"\n'))
    with gw.client(KEY) as c:
        r = c.post("/v1/chat/completions", json={"model": "gpt4", "messages": [], "tools": [{"type": "function", "function": {"name": "f"}}]})
    assert r.status_code == 200
    sent = upstream.requests("/v1/chat/completions")[0].json()
    assert sent["model"] == "gpt-4o"
    assert sent["tools"] == [{"type": "function", "function": {"name": "f"}}]


def test_unknown_model_is_404_envelope(gateway) -> None:
    with gateway.client(KEY) as c:
        r = c.post("/v1/chat/completions", json={"model": "nope", "messages": []})
    assert r.status_code == 404
    assert r.json()["error"]["message"] == "model 'nope' not found"
    assert r.json()["error"]["type"] == "invalid_request_error"


def test_bad_bodies_are_400(gateway) -> None:
    with gateway.client(KEY) as c:
        for body, needle in [(b"not json", "not valid JSON"), (b'{"messages": []}', "model"), (b"[1,2]", "object"),
                             (b'{"model": "gpt-4o", "stream": "yes"}', "stream"), (b"", "not valid JSON")]:
            r = c.post("/v1/chat/completions", content=body)
            assert r.status_code == 400, body
            assert needle in r.json()["error"]["message"]


def test_deeply_nested_json_is_400(gateway) -> None:
    with gateway.client(KEY) as c:
        r = c.post("/v1/chat/completions", content=b'{"model":"gpt-4o","x":' + b"[" * 100000 + b"]" * 100000 + b"}")
    assert r.status_code == 400
    assert "nested" in r.json()["error"]["message"]


def test_oversize_body_is_413(upstream: FakeOpenAI, make_gateway) -> None:
    gw = make_gateway(basic_config(upstream.base_url, "\n[limits]\nmax_body_bytes = 2048\n"))
    with gw.client(KEY) as c:
        r = c.post("/v1/chat/completions", json={"model": "gpt-4o", "messages": [{"role": "user", "content": "x" * 5000}]})
        assert r.status_code == 413
        assert r.json()["error"]["type"] == "invalid_request_error"

        def gen():
            yield b'{"model":"gpt-4o","x":"'
            for _ in range(10):
                yield b"y" * 1000
            yield b'"}'

        r = c.post("/v1/chat/completions", content=gen())  # chunked: no content-length
        assert r.status_code == 413
    assert upstream.requests() == []


def test_auth_required_and_checked(gateway, upstream: FakeOpenAI) -> None:
    with gateway.client() as c:
        r = c.post("/v1/chat/completions", json={"model": "gpt-4o", "messages": []})
        assert r.status_code == 401
        assert r.json()["error"]["message"] == "missing Authorization or x-api-key header"
        r = c.post("/v1/chat/completions", json={"model": "gpt-4o"}, headers={"authorization": "Bearer sk-wrong"})
        assert r.json()["error"]["message"] == "invalid API key"
        r = c.post("/v1/chat/completions", json={"model": "gpt-4o"}, headers={"authorization": f"Bearer {ADMIN}"})
        assert r.status_code == 401  # the admin token is not an API key
        r = c.post("/v1/chat/completions", json={"model": "gpt-4o", "messages": []}, headers={"x-api-key": KEY})
        assert r.status_code == 200
        # Bearer wins over x-api-key
        r = c.post("/v1/chat/completions", json={"model": "gpt-4o"}, headers={"x-api-key": KEY, "authorization": "Bearer bad-key-1"})
        assert r.status_code == 401
    assert len(upstream.requests()) == 1


def test_allow_list_is_enforced(gateway, upstream: FakeOpenAI) -> None:
    with gateway.client(OTHER_KEY) as c:
        r = c.post("/v1/embeddings", json={"model": "text-embedding-3-small", "input": "x"})
        assert r.status_code == 403
        assert r.json()["error"]["type"] == "permission_error"
        assert c.post("/v1/chat/completions", json={"model": "gpt-4o", "messages": []}).status_code == 200
        ids = [m["id"] for m in c.get("/v1/models").json()["data"]]
    assert ids == ["gpt-4o"]
    assert len(upstream.requests()) == 1


def test_no_auth_mode_only_without_keys_and_admin_token(upstream: FakeOpenAI, make_gateway) -> None:
    gw = make_gateway(f'[providers.p]\nbase_url = "{upstream.base_url}"\nmodels = ["m"]\n')
    with gw.client() as c:
        assert c.post("/v1/chat/completions", json={"model": "m", "messages": []}).status_code == 200
    gw2 = make_gateway(f'admin_token = "{ADMIN}"\n[providers.p]\nbase_url = "{upstream.base_url}"\nmodels = ["m"]\n', "b.toml")
    with gw2.client() as c:
        assert c.post("/v1/chat/completions", json={"model": "m", "messages": []}).status_code == 401


def test_upstream_client_error_keeps_status_and_envelope(gateway, upstream: FakeOpenAI) -> None:
    err = {"error": {"message": "bad temperature", "type": "invalid_request_error", "param": "temperature", "code": None}}
    upstream.script("/v1/chat/completions", Script(status=400, body=json.dumps(err).encode()))
    with gateway.client(KEY) as c:
        r = c.post("/v1/chat/completions", json={"model": "gpt-4o", "messages": []})
    assert r.status_code == 400
    assert r.json() == err
    assert len(upstream.requests()) == 1  # a 400 is not retried


def test_upstream_non_json_error_is_wrapped(gateway, upstream: FakeOpenAI) -> None:
    upstream.script("/v1/chat/completions", *[Script(status=502, body=b"<html>bad gateway</html>", headers={"Content-Type": "text/html"})] * 3)
    with gateway.client(KEY) as c:
        r = c.post("/v1/chat/completions", json={"model": "gpt-4o", "messages": []})
    assert r.status_code == 502
    assert r.json()["error"]["type"] == "upstream_error"
    assert "bad gateway" in r.json()["error"]["message"]
    assert r.headers["x-should-retry"] == "false"


def test_upstream_garbage_200_is_502(gateway, upstream: FakeOpenAI) -> None:
    upstream.script("/v1/chat/completions", Script(status=200, body=b"{not json"))
    with gateway.client(KEY) as c:
        r = c.post("/v1/chat/completions", json={"model": "gpt-4o", "messages": []})
    assert r.status_code == 502
    assert r.json()["error"]["type"] == "upstream_error"


def test_unknown_path_and_wrong_method(gateway) -> None:
    with gateway.client(KEY) as c:
        r = c.get("/v1/nothing-here")
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
        r = c.get("/v1/chat/completions")
        assert r.status_code == 405 and "POST" in r.json()["error"]["message"]


def test_health_and_ready(gateway) -> None:
    with gateway.client() as c:
        assert c.get("/health").json() == {"status": "ok"}
        r = c.get("/ready")
        assert r.status_code == 200 and r.json()["status"] == "ready"


def test_models_list_metadata_and_anthropic_shape(upstream: FakeOpenAI, make_gateway) -> None:
    extra = '''
[aliases]
smart = "gpt-4o"

[models."gpt-4o"]
context_length = 128000
vision = true
pricing = { prompt_cost_per_million = 2.5, completion_cost_per_million = 10.0 }
'''
    gw = make_gateway(basic_config(upstream.base_url, extra))
    with gw.client(KEY) as c:
        data = c.get("/v1/models").json()
        anth = c.get("/v1/models", headers={"anthropic-version": "2023-06-01"}).json()
    assert data["object"] == "list"
    by_id = {m["id"]: m for m in data["data"]}
    assert by_id["gpt-4o"]["context_length"] == 128000
    assert by_id["gpt-4o"]["pricing"] == {"prompt_cost_per_million": 2.5, "completion_cost_per_million": 10.0}
    assert by_id["smart"]["alias_for"] == "gpt-4o"
    assert anth["has_more"] is False and {m["type"] for m in anth["data"]} == {"model"}


def test_embeddings_pass_unknown_fields(gateway, upstream: FakeOpenAI) -> None:
    with gateway.client(KEY) as c:
        r = c.post("/v1/embeddings", json={"model": "text-embedding-3-small", "input": ["a", "b"], "dimensions": 3,
                                           "encoding_format": "float", "user": "u1"})
    assert r.status_code == 200
    assert len(r.json()["data"]) == 2
    sent = upstream.requests("/v1/embeddings")[0].json()
    assert sent["dimensions"] == 3 and sent["encoding_format"] == "float" and sent["user"] == "u1"
