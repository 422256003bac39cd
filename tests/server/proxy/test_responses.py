"""/v1/responses on the wire: errors, fallback, sticky follow-ups, retention, extensions and the access log."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.conftest import KEY, OTHER_KEY
from tests.fakes.gateway import GatewayServer
from tests.fakes.openai_upstream import FakeOpenAI, Script, wait_for
from tests.fakes.responses_upstream import TEXT, FakeResponses, text_events

Make = Callable[..., GatewayServer]


@pytest.fixture
def natives() -> Iterator[tuple[FakeResponses, FakeResponses]]:
    a, b = FakeResponses().start(), FakeResponses().start()
    yield a, b
    a.stop()
    b.stop()


def provider(name: str, url: str, model: str, *, kind: str = "openai", extra: str = "", weight: int = 1) -> str:
    return f'''
[providers.{name}]
kind = "{kind}"
base_url = "{url}"
api_key = "sk-{name}"
models = ["{model}"]
max_retries = 0
weight = {weight}
timeout = 5
{extra}
'''


def keys(extra: str = "") -> str:
    return f'''
[[keys]]
name = "team-a"
key = "{KEY}"
{extra}

[[keys]]
name = "restricted"
key = "{OTHER_KEY}"
models = ["other-model"]
'''


def post(gw: GatewayServer, body: object, key: str | None = KEY, **kw: object) -> httpx.Response:
    with gw.client(key) as c:
        if isinstance(body, bytes):
            return c.post("/v1/responses", content=body, headers={"content-type": "application/json"}, **kw)
        return c.post("/v1/responses", json=body, **kw)


def test_bad_input_is_a_4xx_naming_the_problem(natives, make_gateway: Make) -> None:
    gw = make_gateway(provider("a", natives[0].base_url, "m") + keys() + "\n[limits]\nmax_messages = 3\n")
    cases = [
        (b"{not json", 400, "not valid JSON"),
        (b'{"model": "m", "input": 7}', 400, "input"),
        (b'{"model": "m", "input": [{}, {}, {}, {}]}', 400, "max_messages"),
        (b'{"input": "hi"}', 400, "model"),
        (b'{"model": 5, "input": "hi"}', 400, "model"),
        (b'{"model": "nope", "input": "hi"}', 404, "nope"),
        (b'{"model": "m", "input": "hi", "background": true}', 400, "background"),
    ]
    for body, status, text in cases:
        r = post(gw, body)
        assert r.status_code == status, (body, r.text)
        error = r.json()["error"]
        assert text in error["message"] and set(error) == {"message", "type", "param", "code"}
    assert post(gw, {"model": "m", "input": "hi"}, key=OTHER_KEY).status_code == 403
    assert post(gw, {"model": "m", "input": "hi"}, key=None).status_code == 401
    with gw.client(KEY) as c:
        assert c.get("/v1/responses").status_code == 405
        assert c.get("/v1/responses/resp_x/input_items", params={"limit": 0}).status_code == 404
        r = c.post("/v1/responses/resp_x")
        assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"
        r = c.post("/v1/responses/resp_x/cancel")
        assert r.status_code == 400 and "background" in r.json()["error"]["message"]
        assert c.get("/v1/responses/resp_x/whatever").status_code == 404
    first = post(gw, {"model": "m", "input": "hi"}).json()
    with gw.client(KEY) as c:
        r = c.get(f"/v1/responses/{first['id']}/input_items", params={"limit": 500})
        assert r.status_code == 400 and r.json()["error"]["param"] == "limit"
        r = c.get(f"/v1/responses/{first['id']}/input_items", params={"after": "msg_nope"})
        assert r.status_code == 400 and r.json()["error"]["param"] == "after"
        r = c.get(f"/v1/responses/{first['id']}", params={"stream": "true"})
        assert r.status_code == 400


def test_fallback_before_the_first_byte(natives, upstream: FakeOpenAI, make_gateway: Make) -> None:
    bad, good = natives
    gw = make_gateway(provider("bad", bad.base_url, "m", weight=100) + provider("good", good.base_url, "m", weight=1)
                      + provider("chat", upstream.base_url, "m", extra="responses = false", weight=0) + keys())
    bad.script("/v1/responses", Script(status=503, body=b'{"error": {"message": "overloaded"}}'),
               Script(status=502, body=b"bad gateway"))
    r = post(gw, {"model": "m", "input": "hi"})
    assert r.status_code == 200 and r.headers["x-crabllm-provider"] == "good"
    assert r.json()["output"][0]["content"][0]["text"] == TEXT
    # streams fall back too, before anything reached the client
    r = post(gw, {"model": "m", "input": "hi", "stream": True})
    assert r.status_code == 200 and r.headers["x-crabllm-provider"] == "good" and "response.completed" in r.text
    # every native deployment down: the chat-only one serves a translation
    bad.script("/v1/responses", Script(status=500, body=b"x"))
    good.script("/v1/responses", Script(status=500, body=b"x"))
    r = post(gw, {"model": "m", "input": "hi"})
    assert r.status_code == 200 and r.headers["x-crabllm-provider"] == "chat"
    assert r.json()["object"] == "response" and r.json()["output"][0]["content"][0]["text"]


def test_every_deployment_failing_is_the_upstream_envelope(natives, upstream: FakeOpenAI, make_gateway: Make) -> None:
    gw = make_gateway(provider("a", natives[0].base_url, "m") + provider("chat", upstream.base_url, "m", kind="ollama")
                      + keys())
    natives[0].script("/v1/responses", Script(status=502, body=b"down"))
    upstream.script("/v1/chat/completions", Script(status=503, body=b'{"error": {"message": "chat is down"}}'))
    r = post(gw, {"model": "m", "input": "hi"})
    assert r.status_code in (502, 503)
    assert set(r.json()["error"]) == {"message", "type", "param", "code"}


def test_follow_up_sticks_to_its_deployment_and_falls_back_with_history(natives, make_gateway: Make) -> None:
    a, b = natives
    gw = make_gateway(provider("a", a.base_url, "m") + provider("b", b.base_url, "m") + keys())
    first = post(gw, {"model": "m", "input": "first question"})
    origin, other = (a, b) if first.headers["x-crabllm-provider"] == "a" else (b, a)
    rid = first.json()["id"]
    for _ in range(4):
        r = post(gw, {"model": "m", "input": "again", "previous_response_id": rid})
        assert r.headers["x-crabllm-provider"] == first.headers["x-crabllm-provider"]
    assert not other.requests("/v1/responses")
    assert origin.requests("/v1/responses")[-1].json()["previous_response_id"] == rid
    # the origin is down: the other deployment never saw rid, so it gets the stored conversation as input
    origin.script("/v1/responses", Script(status=503, body=b"x"))
    r = post(gw, {"model": "m", "input": "third", "previous_response_id": rid})
    assert r.status_code == 200 and r.headers["x-crabllm-provider"] != first.headers["x-crabllm-provider"]
    sent = other.requests("/v1/responses")[-1].json()
    assert "previous_response_id" not in sent
    texts = [part.get("text") for item in sent["input"] for part in (item.get("content") or [])
             if isinstance(part, dict)]
    assert texts == ["first question", TEXT, "third"]


def test_native_stream_cut_mid_way_is_response_failed(natives, make_gateway: Make) -> None:
    gw = make_gateway(provider("a", natives[0].base_url, "m") + keys())
    natives[0].script("/v1/responses", Script(chunks=text_events("m", "resp_cut", ["a", "b", "c"]), cut_after=5))
    r = post(gw, {"model": "m", "input": "hi", "stream": True})
    assert r.status_code == 200
    events = [json.loads(line[6:]) for line in r.text.splitlines() if line.startswith("data: ")]
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert events[-1]["type"] == "response.failed" and events[-1]["response"]["id"] == "resp_cut"


def test_ttl_expiry(natives, make_gateway: Make) -> None:
    gw = make_gateway(provider("a", natives[0].base_url, "m") + keys() + "\n[responses]\nttl_days = 0.00003\n")  # 2.6 s
    rid = post(gw, {"model": "m", "input": "hi"}).json()["id"]
    with gw.client(KEY) as c:
        assert c.get(f"/v1/responses/{rid}").status_code == 200
        assert wait_for(lambda: c.get(f"/v1/responses/{rid}").status_code == 404, timeout=15)


def test_per_key_byte_bound_evicts_the_oldest(natives, make_gateway: Make) -> None:
    gw = make_gateway(provider("a", natives[0].base_url, "m") + keys() + "\n[responses]\nmax_bytes_per_key = 3000\n")
    ids = [post(gw, {"model": "m", "input": f"question {i}"}).json()["id"] for i in range(6)]
    with gw.client(KEY) as c:
        assert c.get(f"/v1/responses/{ids[-1]}").status_code == 200
        assert c.get(f"/v1/responses/{ids[0]}").status_code == 404
        kept = [rid for rid in ids if c.get(f"/v1/responses/{rid}").status_code == 200]
    assert kept == ids[-len(kept):] and 1 <= len(kept) < len(ids)


def test_no_auth_gateway_has_one_owner_and_sqlite_storage(natives, make_gateway: Make, tmp_path) -> None:
    gw = make_gateway(provider("a", natives[0].base_url, "m")
                      + f'\n[storage]\nkind = "sqlite"\npath = "{tmp_path / "state.db"}"\n')
    rid = post(gw, {"model": "m", "input": "hi"}, key=None).json()["id"]
    with gw.client(None) as c:
        assert c.get(f"/v1/responses/{rid}").json()["id"] == rid
        items = c.get(f"/v1/responses/{rid}/input_items").json()
        assert items["object"] == "list" and items["first_id"] == items["last_id"] and not items["has_more"]
        assert c.delete(f"/v1/responses/{rid}").json() == {"id": rid, "object": "response", "deleted": True}
        assert c.get(f"/v1/responses/{rid}").status_code == 404


EXT = '''
[extensions.usage]

[extensions.cache]

[extensions.budget]

[extensions.rate_limit]
requests_per_minute = 5

[models.m.pricing]
prompt_cost_per_million = 100000
completion_cost_per_million = 100000
'''


def test_extensions_usage_cache_rate_limit_budget(natives, upstream: FakeOpenAI, make_gateway: Make,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    gw = make_gateway(provider("a", natives[0].base_url, "m") + keys("budget = 3.0") + EXT)
    caplog.set_level(logging.INFO, logger="crabllm.access")
    body = {"model": "m", "input": "hi"}
    first, second = post(gw, body), post(gw, body)
    assert first.status_code == second.status_code == 200
    assert first.headers["x-crabllm-cache"] == "miss" and second.headers["x-crabllm-cache"] == "hit"
    assert second.content == first.content and len(natives[0].requests("/v1/responses")) == 1
    assert "x-ratelimit-remaining-requests" in first.headers
    with gw.client(KEY) as c:
        assert wait_for(lambda: c.get("/v1/usage").json()["data"] != [])
        rows = c.get("/v1/usage").json()["data"]
    assert sum(row["prompt_tokens"] for row in rows) == 9 and sum(row["completion_tokens"] for row in rows) == 5
    # 14 tokens at $0.1 each: $1.4 spent, and each request reserves the last cost ($1.4) of the $3.0 budget
    r = post(gw, {"model": "m", "input": "third"})
    assert r.status_code == 429 and r.json()["error"]["code"] == "budget_exceeded"
    assert any("POST /v1/responses 200" in rec.getMessage() for rec in caplog.records)


def test_rate_limit_on_the_route(natives, make_gateway: Make) -> None:
    gw = make_gateway(provider("a", natives[0].base_url, "m") + keys()
                      + "\n[extensions.rate_limit]\nrequests_per_minute = 2\n")
    statuses = [post(gw, {"model": "m", "input": f"q{i}", "stream": i % 2 == 0}).status_code for i in range(3)]
    assert statuses == [200, 200, 429]


def test_mock_kind_round_trip_with_previous_response_id(make_gateway: Make) -> None:
    gw = make_gateway('\n[providers.mock]\nkind = "mock"\nmodels = ["mock-chat"]\n' + keys())
    first = post(gw, {"model": "mock-chat", "input": "hello there"}).json()
    second = post(gw, {"model": "mock-chat", "input": "and again", "previous_response_id": first["id"]})
    assert second.status_code == 200 and second.json()["previous_response_id"] == first["id"]
    with gw.client(KEY) as c:
        items = c.get(f"/v1/responses/{second.json()['id']}/input_items", params={"order": "asc"}).json()
    assert [i["content"][0]["text"] for i in items["data"]] == ["and again"]


def test_retrieve_gives_the_bytes_as_returned(natives, make_gateway: Make) -> None:
    gw = make_gateway(provider("a", natives[0].base_url, "m") + keys())
    r = post(gw, {"model": "m", "input": "hi"})
    assert r.status_code == 200
    with gw.client(KEY) as c:
        assert c.get(f"/v1/responses/{r.json()['id']}").content == r.content


def test_garbage_200_is_this_deployments_failure(natives, make_gateway: Make) -> None:
    a, b = natives
    gw = make_gateway(provider("a", a.base_url, "m", weight=100) + provider("b", b.base_url, "m", weight=0) + keys())
    html = Script(status=200, body=b"<html>maintenance</html>", headers={"Content-Type": "text/html"})
    a.script("/v1/responses", html, html)
    r = post(gw, {"model": "m", "input": "hi"})
    assert r.status_code == 200 and r.headers["x-crabllm-provider"] == "b"
    r = post(gw, {"model": "m", "input": "hi", "stream": True})
    assert r.status_code == 200 and r.headers["x-crabllm-provider"] == "b" and "response.completed" in r.text
    only = make_gateway(provider("a", a.base_url, "m") + keys(), "only.toml")
    a.script("/v1/responses", html)
    r = post(only, {"model": "m", "input": "hi", "stream": True})
    assert r.status_code == 502 and r.json()["error"]["code"] == "bad_upstream_response"


def test_config_of_the_route() -> None:
    from crabllm.config.loader import parse_config
    from crabllm.errors import ConfigError

    def err(text: str) -> ConfigError:
        with pytest.raises(ConfigError) as e:
            parse_config(text, file="c.toml", env={})
        return e.value

    assert parse_config("", env={}).responses.ttl_days == 30
    assert err('[providers.c]\nkind = "anthropic"\napi_key = "k"\nresponses = true\n').path == "providers.c.responses"
    assert err("[responses]\nttl_dayz = 1\n").path == "responses.ttl_dayz"
    assert err("[responses]\nttl_days = 0\n").path == "responses.ttl_days"
    assert err("[responses]\nmax_bytes_per_key = -1\n").path == "responses.max_bytes_per_key"
    cfg = parse_config('[providers.v]\nkind = "vllm"\nbase_url = "http://127.0.0.1:1/v1"\nresponses = true\n', env={})
    assert cfg.providers["v"].responses is True


async def test_which_deployments_are_native_and_the_azure_url() -> None:
    from crabllm.config.schema import ProviderConfig
    from crabllm.providers.base import Endpoint
    from crabllm.providers.factory import build_provider
    from crabllm.server.proxy.responses import is_native

    def make(**kw: object) -> object:
        return build_provider("p", ProviderConfig(**kw), None)  # type: ignore[arg-type]

    azure = make(kind="azure", api_key="k", base_url="https://res.openai.azure.com")
    assert azure.url(Endpoint.RESPONSES, "dep") == "https://res.openai.azure.com/openai/v1/responses"
    assert azure.url(Endpoint.CHAT, "dep").startswith("https://res.openai.azure.com/openai/deployments/dep/")
    assert is_native(azure) and is_native(make(kind="openai"))
    assert not is_native(make(kind="openai", responses=False)) and not is_native(make(kind="ollama"))
    assert is_native(make(kind="vllm", base_url="http://127.0.0.1:1/v1", responses=True))
    assert not is_native(make(kind="mock"))
    assert not is_native(make(kind="anthropic", api_key="k"))


def test_translated_stream_with_garbage_first_bytes_is_a_502(upstream: FakeOpenAI, make_gateway: Make) -> None:
    gw = make_gateway(provider("chat", upstream.base_url, "m", kind="ollama") + keys())
    upstream.script("/v1/chat/completions", Script(chunks=[b"data: {not json\n\n", b"data: [DONE]\n\n"]))
    r = post(gw, {"model": "m", "input": "hi", "stream": True})
    assert r.status_code == 502 and r.json()["error"]["code"] == "bad_upstream_response"
