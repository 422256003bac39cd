"""Malformed upstream streams never pass through: a 502 before the stream is committed (another
deployment may serve it), one in-band error in the route's format after, tokens seen so far booked."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ADMIN, KEY
from tests.fakes import anthropic_upstream as anth
from tests.fakes import bedrock_upstream as br
from tests.fakes import gemini_upstream as gem
from tests.fakes.gateway import GatewayServer
from tests.fakes.multi import BEDROCK, CLAUDE, GEMINI, Fakes, fakes, multi_config  # noqa: F401 - fixture
from tests.fakes.openai_upstream import FakeOpenAI, Script, sse, stream_chunks
from tests.reliability.helpers import events

CHAT = "/v1/chat/completions"
MESSAGES = "/v1/messages"
GARBAGE_FRAME = b"data: {this is not json\n\n"
EXTRA = f'''
admin_token = "{ADMIN}"
[extensions.usage]
[extensions.audit]
'''


@pytest.fixture(scope="module")
def gw(fakes: Fakes, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayServer]:  # noqa: F811
    path: Path = tmp_path_factory.mktemp("malformed") / "crabllm.toml"
    # admin_token must come before the first table
    path.write_text(EXTRA.split("[extensions")[0] + multi_config(fakes, "\n[extensions.usage]\n[extensions.audit]\n"))
    server = GatewayServer(path).start()
    yield server
    server.stop()


def post(gw: GatewayServer, path: str, body: dict[str, Any]) -> Any:
    with gw.client(KEY) as c:
        return c.post(path, json=body, headers={"anthropic-version": "2023-06-01"})


def chat_stream(gw: GatewayServer, model: str) -> Any:
    return post(gw, CHAT, {"model": model, "stream": True, "messages": [{"role": "user", "content": "hi"}]})


def messages_stream(gw: GatewayServer, model: str) -> Any:
    return post(gw, MESSAGES, {"model": model, "max_tokens": 20, "stream": True,
                               "messages": [{"role": "user", "content": "hi"}]})


def last_audit(gw: GatewayServer) -> dict[str, Any]:
    with gw.client(ADMIN) as a:
        return a.get("/v1/admin/logs", params={"limit": 1}).json()["data"][0]


def anthropic_events(text: str) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for block in text.split("\n\n"):
        name = next((line[7:] for line in block.split("\n") if line.startswith("event: ")), None)
        data = next((line[6:] for line in block.split("\n") if line.startswith("data: ")), None)
        if name and data:
            out.append((name, json.loads(data)))
    return out


# --- /v1/chat/completions to an OpenAI-wire upstream: pass-through -----------------------------

@pytest.mark.parametrize("content_type,body", [("application/json", b'{"id":"x","choices":[]}'),
                                                ("text/html", b"<html>bad gateway</html>"),
                                                ("text/plain", b"")])
def test_chat_stream_answered_with_a_non_sse_body_is_a_502(gw: GatewayServer, fakes: Fakes, content_type: str,
                                                          body: bytes) -> None:
    fakes.openai.script(CHAT, Script(body=body, headers={"Content-Type": content_type}))
    r = chat_stream(gw, "gpt-4o")
    assert r.status_code == 502 and r.headers["content-type"].startswith("application/json")
    error = r.json()["error"]
    assert error["code"] == "bad_upstream_response" and "text/event-stream" in error["message"]
    assert "[DONE]" not in r.text


def test_non_sse_answer_falls_over_to_another_deployment(make_gateway: Any) -> None:
    bad, good = FakeOpenAI().start(), FakeOpenAI().start()
    try:
        bad.script(CHAT, Script(body=b'{"id":"x"}'))
        gw = make_gateway(f'[providers.bad]\nbase_url = "{bad.base_url}"\nmodels = ["m"]\nweight = 100\n'
                          f'[providers.good]\nbase_url = "{good.base_url}"\nmodels = ["m"]\nweight = 1\n'
                          f'[[keys]]\nname = "k"\nkey = "{KEY}"\n')
        r = chat_stream(gw, "m")
        assert r.status_code == 200 and events(r.text)[-1] == "[DONE]"
        assert len(bad.requests(CHAT)) == 1 and len(good.requests(CHAT)) == 1  # not retried on the bad one
    finally:
        bad.stop()
        good.stop()


def test_first_frame_garbage_read_ahead_is_a_502_that_falls_over(make_gateway: Any) -> None:
    bad, good = FakeOpenAI().start(), FakeOpenAI().start()
    try:
        bad.script(CHAT, Script(chunks=[GARBAGE_FRAME, *stream_chunks("m", ["never"])], chunk_delay=0.3))
        gw = make_gateway(f'[providers.bad]\nbase_url = "{bad.base_url}"\nmodels = ["m"]\nweight = 100\n'
                          f'[providers.good]\nbase_url = "{good.base_url}"\nmodels = ["m"]\nweight = 1\n'
                          f'[[keys]]\nname = "k"\nkey = "{KEY}"\n')
        r = chat_stream(gw, "m")
        assert r.status_code == 200 and "never" not in r.text and events(r.text)[-1] == "[DONE]"
        assert len(good.requests(CHAT)) == 1
    finally:
        bad.stop()
        good.stop()


def test_mid_stream_garbage_becomes_one_error_event_and_books_what_was_seen(gw: GatewayServer, fakes: Fakes) -> None:
    good = stream_chunks("gpt-4o", ["one ", "two ", "three"])
    fakes.openai.script(CHAT, Script(chunks=[good[0], good[1], GARBAGE_FRAME, good[2], b"data: [DONE]\n\n"],
                                     chunk_delay=0.05))
    r = chat_stream(gw, "gpt-4o")
    assert r.status_code == 200
    evs = events(r.text)
    assert [json.loads(e)["choices"][0]["delta"]["content"] for e in evs[:-1]] == ["one ", "two "]
    error = json.loads(evs[-1])["error"]
    assert error["code"] == "bad_upstream_response" and "this is not json" in error["message"]
    assert "[DONE]" not in evs and "three" not in r.text
    record = last_audit(gw)
    assert record["status"] == 200 and "malformed" in record["error"]
    assert record["completion_tokens"] == 2  # the two chunks delivered, as an estimate: no usage chunk came


def test_stream_that_ends_without_any_event_is_an_error(gw: GatewayServer, fakes: Fakes) -> None:
    fakes.openai.script(CHAT, Script(chunks=[b": just a comment\n\n"], chunk_delay=0.05))
    r = chat_stream(gw, "gpt-4o")
    body = r.json() if r.status_code != 200 else json.loads(events(r.text)[-1])
    assert "without a single event" in body["error"]["message"]


# --- /v1/chat/completions translated from Anthropic, Gemini and Bedrock --------------------------

def test_chat_from_anthropic_with_a_malformed_frame(gw: GatewayServer, fakes: Fakes) -> None:
    good = anth.text_stream(CLAUDE, ["Hel", "lo"])
    fakes.anthropic.script(MESSAGES, Script(chunks=[*good[:4], b"event: content_block_delta\ndata: nope\n\n",
                                                    *good[4:]], chunk_delay=0.05))
    r = chat_stream(gw, CLAUDE)
    evs = events(r.text)
    assert r.status_code == 200 and "[DONE]" not in evs
    assert "".join(json.loads(e)["choices"][0]["delta"].get("content") or "" for e in evs[:-1]
                   if json.loads(e).get("choices")) == "Hel"
    assert json.loads(evs[-1])["error"]["code"] == "bad_upstream_response"
    assert last_audit(gw)["prompt_tokens"] == 12  # message_start's input tokens are booked


def test_chat_from_anthropic_answering_json_to_a_stream(gw: GatewayServer, fakes: Fakes) -> None:
    fakes.anthropic.script(MESSAGES, Script(body=json.dumps(anth.message(CLAUDE)).encode()))
    r = chat_stream(gw, CLAUDE)
    assert r.status_code == 502 and r.json()["error"]["code"] == "bad_upstream_response"


def test_chat_from_gemini_with_a_malformed_frame(gw: GatewayServer, fakes: Fakes) -> None:
    good = gem.text_stream(["Hel", "lo", "!"])
    fakes.gemini.script(gem.FakeGemini.path(GEMINI, True), Script(chunks=[good[0], b"data: {oops\r\n\r\n", good[1]],
                                                                 chunk_delay=0.05))
    r = chat_stream(gw, GEMINI)
    evs = events(r.text)
    assert r.status_code == 200 and "[DONE]" not in evs
    text = "".join(json.loads(e)["choices"][0]["delta"].get("content") or "" for e in evs[:-1]
                   if json.loads(e).get("choices"))
    assert text == "Hel"  # nothing after the malformed frame
    assert json.loads(evs[-1])["error"]["code"] == "bad_upstream_response"


def test_chat_from_bedrock_with_a_corrupt_frame(gw: GatewayServer, fakes: Fakes) -> None:
    good = br.text_stream(["Hel", "lo"])
    corrupt = bytearray(good[1])
    corrupt[-5] ^= 0xFF  # the payload no longer matches the frame's CRC
    fakes.bedrock.script(br.FakeBedrock.path(BEDROCK, True), Script(chunks=[good[0], bytes(corrupt), *good[2:]],
                                                                   chunk_delay=0.05))
    r = chat_stream(gw, BEDROCK)
    evs = events(r.text)
    assert r.status_code == 200 and "[DONE]" not in evs
    assert "error" in json.loads(evs[-1])


# --- /v1/messages: pass-through to Anthropic and translated from an OpenAI-wire upstream -------

def test_messages_pass_through_with_a_malformed_frame(gw: GatewayServer, fakes: Fakes) -> None:
    good = anth.text_stream(CLAUDE, ["Hel", "lo"])
    fakes.anthropic.script(MESSAGES, Script(chunks=[*good[:4], b"event: content_block_delta\ndata: {nope\n\n",
                                                    *good[4:]], chunk_delay=0.05))
    r = messages_stream(gw, CLAUDE)
    assert r.status_code == 200
    evs = anthropic_events(r.text)
    names = [name for name, _ in evs]
    assert names[-1] == "error" and "message_stop" not in names
    assert evs[-1][1]["error"]["type"] == "api_error" and "malformed" in evs[-1][1]["error"]["message"]
    assert r.text.count("Hel") == 1 and '"lo"' not in r.text
    assert last_audit(gw)["prompt_tokens"] == 12


def test_messages_pass_through_cut_before_message_stop(gw: GatewayServer, fakes: Fakes) -> None:
    good = anth.text_stream(CLAUDE, ["Hel", "lo"])
    fakes.anthropic.script(MESSAGES, Script(chunks=good[:-2], chunk_delay=0.02))
    r = messages_stream(gw, CLAUDE)
    names = [name for name, _ in anthropic_events(r.text)]
    assert r.status_code == 200 and names[-1] == "error" and "message_stop" not in names


def test_messages_pass_through_answered_with_json_is_a_502_in_the_anthropic_envelope(gw: GatewayServer,
                                                                                    fakes: Fakes) -> None:
    fakes.anthropic.script(MESSAGES, Script(body=json.dumps(anth.message(CLAUDE)).encode()))
    r = messages_stream(gw, CLAUDE)
    assert r.status_code == 502 and r.json()["type"] == "error"
    assert "text/event-stream" in r.json()["error"]["message"]


def test_messages_translated_from_openai_with_a_malformed_frame(gw: GatewayServer, fakes: Fakes) -> None:
    good = stream_chunks("gpt-4o", ["Hel", "lo"], (5, 2))
    fakes.openai.script(CHAT, Script(chunks=[good[0], GARBAGE_FRAME, *good[1:]], chunk_delay=0.05))
    r = messages_stream(gw, "gpt-4o")
    assert r.status_code == 200
    names = [name for name, _ in anthropic_events(r.text)]
    assert names[-1] == "error" and "message_stop" not in names


def test_messages_translated_answered_with_json_is_a_502(gw: GatewayServer, fakes: Fakes) -> None:
    fakes.openai.script(CHAT, Script(body=b'{"choices":[]}'))
    r = messages_stream(gw, "gpt-4o")
    assert r.status_code == 502 and r.json()["type"] == "error"


def test_good_streams_still_pass_on_every_route(gw: GatewayServer) -> None:
    for model in ("gpt-4o", CLAUDE, GEMINI, BEDROCK):
        r = chat_stream(gw, model)
        assert r.status_code == 200 and events(r.text)[-1] == "[DONE]", (model, r.text[-300:])
        r = messages_stream(gw, model)
        assert r.status_code == 200 and anthropic_events(r.text)[-1][0] == "message_stop", (model, r.text[-300:])


_ = sse  # re-exported helper kept for readers adding cases
