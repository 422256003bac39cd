"""The official openai SDK's Responses API through the gateway: native pass-through and translated deployments."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import openai
import pytest

from tests.conftest import KEY, OTHER_KEY
from tests.fakes.anthropic_upstream import message as anthropic_message
from tests.fakes.gateway import GatewayServer
from tests.fakes.multi import BEDROCK, CLAUDE, GEMINI, Fakes, _clean_fakes, fakes, multi_config  # noqa: F401
from tests.fakes.openai_upstream import Script
from tests.fakes.responses_upstream import TEXT, FakeResponses, response_object

NATIVE = "gpt-native"
CHAT = "chat-only"

WEATHER = {"type": "function", "name": "get_weather", "description": "Weather in a city",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}


@pytest.fixture(scope="module")
def native() -> Iterator[FakeResponses]:
    fake = FakeResponses().start()
    yield fake
    fake.stop()


@pytest.fixture(autouse=True)
def _clean_native(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "native" in request.fixturenames:
        fake = request.getfixturevalue("native")
        with fake._lock:
            fake.received.clear()
            fake.scripts.clear()
        fake.default_reply = None


def config(f: Fakes, native: FakeResponses) -> str:
    return multi_config(f, f'''
[[keys]]
name = "other"
key = "{OTHER_KEY}"
models = ["*"]

[providers.native]
kind = "openai"
api_key = "sk-native-upstream"
base_url = "{native.base_url}"
models = ["{NATIVE}"]
max_retries = 0
timeout = 5

[providers.chatonly]
kind = "openai"
responses = false
api_key = "sk-chat-upstream"
base_url = "{f.openai.base_url}"
models = ["{CHAT}"]
max_retries = 0
timeout = 5
''')


@pytest.fixture(scope="module")
def gw(fakes: Fakes, native: FakeResponses, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayServer]:  # noqa: F811
    path = tmp_path_factory.mktemp("responses") / "crabllm.toml"
    path.write_text(config(fakes, native))
    server = GatewayServer(path).start()
    yield server
    server.stop()


@pytest.fixture
def client() -> Iterator[Callable[..., openai.OpenAI]]:
    made: list[openai.OpenAI] = []

    def make(server: GatewayServer, key: str = KEY) -> openai.OpenAI:
        c = openai.OpenAI(base_url=server.url + "/v1", api_key=key, max_retries=0)
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


# -- native pass-through -------------------------------------------------------------------------

def test_native_create_passes_bytes_through(gw: GatewayServer, native: FakeResponses, client: Callable[..., Any]) -> None:
    r = client(gw).responses.create(model=NATIVE, input="hi", instructions="Be brief.")
    assert r.output_text == TEXT and r.id.startswith("resp_fake")
    assert r.usage is not None and (r.usage.input_tokens, r.usage.output_tokens) == (9, 5)
    rec = native.requests("/v1/responses")[-1]
    assert rec.json() == {"model": NATIVE, "input": "hi", "instructions": "Be brief."}
    assert rec.headers["Authorization"] == "Bearer sk-native-upstream"


def test_native_body_bytes_are_untouched(gw: GatewayServer, native: FakeResponses) -> None:
    body = b'{"input":  "hi",   "model": "gpt-native", "x_unknown": [1, 2]}'
    with gw.client(KEY) as c:
        r = c.post("/v1/responses", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 200 and r.headers["x-crabllm-provider"] == "native"
    assert native.requests("/v1/responses")[-1].body == body


def test_native_stream_and_stored_copy(gw: GatewayServer, native: FakeResponses, client: Callable[..., Any]) -> None:
    c = client(gw)
    events = list(c.responses.create(model=NATIVE, input="hi", stream=True))
    types = [e.type for e in events]
    assert types[0] == "response.created" and types[-1] == "response.completed"
    assert [e.sequence_number for e in events] == list(range(len(events)))
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == TEXT
    final = events[-1].response
    got = c.responses.retrieve(final.id)
    assert got.output_text == TEXT and got.usage is not None and got.usage.total_tokens == 14


def test_native_stream_helper(gw: GatewayServer, client: Callable[..., Any]) -> None:
    with client(gw).responses.stream(model=NATIVE, input="hi") as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(deltas) == TEXT and final.output_text == TEXT


def test_native_follow_up_passes_previous_id_through(gw: GatewayServer, native: FakeResponses,
                                                     client: Callable[..., Any]) -> None:
    c = client(gw)
    first = c.responses.create(model=NATIVE, input="hi")
    c.responses.create(model=NATIVE, input="again", previous_response_id=first.id)
    sent = native.requests("/v1/responses")[-1].json()
    assert sent == {"model": NATIVE, "input": "again", "previous_response_id": first.id}


def test_retrieve_delete_items_and_ownership(gw: GatewayServer, client: Callable[..., Any]) -> None:
    c = client(gw)
    r = c.responses.create(model=NATIVE, input=[{"role": "user", "content": "one"},
                                                {"role": "user", "content": [{"type": "input_text", "text": "two"}]}])
    assert c.responses.retrieve(r.id).id == r.id
    items = c.responses.input_items.list(r.id)
    assert [i.content[0].text for i in items.data] == ["two", "one"]  # newest first by default
    page = c.responses.input_items.list(r.id, order="asc", limit=1)
    assert [i.content[0].text for i in page.data] == ["one"] and page.has_more
    rest = c.responses.input_items.list(r.id, order="asc", after=page.data[0].id)
    assert [i.content[0].text for i in rest.data] == ["two"] and not rest.has_more
    other = client(gw, OTHER_KEY)
    for fn in (lambda: other.responses.retrieve(r.id), lambda: other.responses.delete(r.id),
               lambda: other.responses.input_items.list(r.id)):
        with pytest.raises(openai.NotFoundError):
            fn()
    c.responses.delete(r.id)
    with pytest.raises(openai.NotFoundError):
        c.responses.retrieve(r.id)


def test_store_false_keeps_nothing(gw: GatewayServer, client: Callable[..., Any]) -> None:
    c = client(gw)
    r = c.responses.create(model=NATIVE, input="hi", store=False)
    with pytest.raises(openai.NotFoundError):
        c.responses.retrieve(r.id)


def test_native_input_tokens_and_translated_refusal(gw: GatewayServer, client: Callable[..., Any]) -> None:
    c = client(gw)
    assert c.responses.input_tokens.count(model=NATIVE, input="hi").input_tokens == 17
    with pytest.raises(openai.BadRequestError, match="natively"):
        c.responses.input_tokens.count(model=CLAUDE, input="hi")


def test_native_upstream_error_keeps_status(gw: GatewayServer, native: FakeResponses, client: Callable[..., Any]) -> None:
    body = json.dumps({"error": {"message": "bad tool", "type": "invalid_request_error", "param": "tools",
                                 "code": None}}).encode()
    native.script("/v1/responses", Script(status=400, body=body))
    with pytest.raises(openai.BadRequestError, match="bad tool"):
        client(gw).responses.create(model=NATIVE, input="hi")


def test_native_stream_non_json_event_fails_in_band(gw: GatewayServer, native: FakeResponses,
                                                    client: Callable[..., Any]) -> None:
    from tests.fakes.responses_upstream import text_events

    good = text_events(NATIVE, "resp_x", ["a", "b"])
    native.script("/v1/responses", Script(chunks=[*good[:5], b"event: response.output_text.delta\ndata: {oops\n\n",
                                                  *good[5:]]))
    events = list(client(gw).responses.create(model=NATIVE, input="hi", stream=True))
    types = [e.type for e in events]
    assert types[:5] == [e.decode().split("\n")[0].removeprefix("event: ") for e in good[:5]]
    assert types[5:] == ["response.failed"]
    assert events[5].sequence_number == 5 and events[5].response.status == "failed"
    assert "non-JSON" in events[5].response.error.message


def test_background_is_refused(gw: GatewayServer, client: Callable[..., Any]) -> None:
    with pytest.raises(openai.BadRequestError, match="background"):
        client(gw).responses.create(model=NATIVE, input="hi", background=True)


# -- translated deployments ----------------------------------------------------------------------

@pytest.mark.parametrize("model", [CHAT, CLAUDE, GEMINI, BEDROCK, "mock-chat"])
def test_translated_text(gw: GatewayServer, model: str, client: Callable[..., Any]) -> None:
    c = client(gw)
    r = c.responses.create(model=model, input="hi", instructions="Be brief.", max_output_tokens=50)
    assert r.object == "response" and r.status == "completed" and r.output_text
    assert r.id.startswith("resp_") and r.usage is not None and r.usage.output_tokens > 0
    assert c.responses.retrieve(r.id).output_text == r.output_text


@pytest.mark.parametrize("model", [CHAT, CLAUDE, GEMINI, BEDROCK, "mock-chat"])
def test_translated_stream(gw: GatewayServer, model: str, client: Callable[..., Any]) -> None:
    c = client(gw)
    events = list(c.responses.create(model=model, input="hi", stream=True))
    types = [e.type for e in events]
    assert types[:2] == ["response.created", "response.in_progress"] and types[-1] == "response.completed"
    assert [e.sequence_number for e in events] == list(range(len(events)))
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text and events[-1].response.output_text == text
    assert c.responses.retrieve(events[-1].response.id).output_text == text


def test_translated_stream_helper(gw: GatewayServer, client: Callable[..., Any]) -> None:
    with client(gw).responses.stream(model=CLAUDE, input="hi") as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(deltas) == final.output_text == "Hello from Claude."


def test_function_tool_round_trip_with_previous_response_id(gw: GatewayServer, fakes: Fakes,  # noqa: F811
                                                            client: Callable[..., Any]) -> None:
    fakes.anthropic.default_reply = {
        "id": "msg_1", "type": "message", "role": "assistant", "model": CLAUDE, "stop_reason": "tool_use",
        "content": [{"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}],
        "usage": {"input_tokens": 20, "output_tokens": 10}}
    c = client(gw)
    first = c.responses.create(model=CLAUDE, input="Weather in Paris?", tools=[WEATHER])
    call = next(o for o in first.output if o.type == "function_call")
    assert call.name == "get_weather" and json.loads(call.arguments) == {"city": "Paris"}
    fakes.anthropic.default_reply = anthropic_message(CLAUDE, "It is sunny in Paris.")
    second = c.responses.create(model=CLAUDE, previous_response_id=first.id, tools=[WEATHER],
                                input=[{"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}])
    assert second.output_text == "It is sunny in Paris." and second.previous_response_id == first.id
    sent = fakes.anthropic.requests("/v1/messages")[-1].json()["messages"]
    assert sent[0]["role"] == "user" and "Weather in Paris?" in json.dumps(sent[0]["content"])
    assert sent[1]["role"] == "assistant" and sent[1]["content"][-1]["type"] == "tool_use"
    assert sent[2]["role"] == "user" and sent[2]["content"][0]["type"] == "tool_result"


def test_structured_output(gw: GatewayServer, fakes: Fakes, client: Callable[..., Any]) -> None:  # noqa: F811
    from tests.fakes.openai_upstream import chat_reply

    fakes.openai.default_reply = chat_reply(CHAT, '{"city": "Paris"}')
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
              "additionalProperties": False}
    r = client(gw).responses.create(model=CHAT, input="Where?", text={"format": {
        "type": "json_schema", "name": "place", "schema": schema, "strict": True}})
    assert json.loads(r.output_text) == {"city": "Paris"}
    sent = fakes.openai.requests("/v1/chat/completions")[-1].json()
    assert sent["response_format"]["type"] == "json_schema"
    assert sent["response_format"]["json_schema"]["schema"] == schema


def test_translated_unknown_previous_id_is_404(gw: GatewayServer, client: Callable[..., Any]) -> None:
    with pytest.raises(openai.NotFoundError, match="previous response"):
        client(gw).responses.create(model=CHAT, input="hi", previous_response_id="resp_nope")


def test_built_in_tool_on_translated_deployment_is_400(gw: GatewayServer, client: Callable[..., Any]) -> None:
    with pytest.raises(openai.BadRequestError, match="web_search"):
        client(gw).responses.create(model=CLAUDE, input="hi", tools=[{"type": "web_search"}])


def test_translated_stream_upstream_breaks(gw: GatewayServer, fakes: Fakes, client: Callable[..., Any]) -> None:  # noqa: F811
    from tests.fakes.openai_upstream import stream_chunks

    fakes.openai.script("/v1/chat/completions", Script(chunks=stream_chunks(CHAT, ["a", "b", "c"]), cut_after=2))
    events = list(client(gw).responses.create(model=CHAT, input="hi", stream=True))
    types = [e.type for e in events]
    assert types[0] == "response.created" and "response.failed" in types
    assert "response.completed" not in types
    assert [e.sequence_number for e in events] == list(range(len(events)))


def test_response_json_is_a_response_object(gw: GatewayServer, native: FakeResponses) -> None:
    native.default_reply = response_object(NATIVE, "resp_fixed")
    with gw.client(KEY) as c:
        r = c.post("/v1/responses", json={"model": NATIVE, "input": "hi"})
    assert r.json()["id"] == "resp_fixed"


def test_usage_is_booked_for_streams(gw: GatewayServer, client: Callable[..., Any]) -> None:
    from tests.fakes.multi import Accounting

    acc = Accounting(gw)
    list(client(gw).responses.create(model=CLAUDE, input="hi", stream=True))
    assert acc.delta("claude") == (12, 8)
    acc = Accounting(gw)
    list(client(gw).responses.create(model=NATIVE, input="hi", stream=True))
    assert acc.delta("native") == (9, 5)


def test_streamed_function_call_and_follow_up_on_bedrock(gw: GatewayServer, fakes: Fakes,  # noqa: F811
                                                         client: Callable[..., Any]) -> None:
    from tests.fakes.bedrock_upstream import FakeBedrock, converse_response, tool_stream

    fakes.bedrock.script(FakeBedrock.path(BEDROCK, True),
                         Script(chunks=tool_stream("tooluse_1", "get_weather", ['{"city":', '"Oslo"}'])))
    c = client(gw)
    with c.responses.stream(model=BEDROCK, input="Weather in Oslo?", tools=[WEATHER]) as stream:
        done = [e for e in stream if e.type == "response.function_call_arguments.done"]
        final = stream.get_final_response()
    call = next(o for o in final.output if o.type == "function_call")
    assert json.loads(done[0].arguments) == json.loads(call.arguments) == {"city": "Oslo"}
    fakes.bedrock.default_reply = converse_response([{"text": "Cold in Oslo."}])
    second = c.responses.create(model=BEDROCK, previous_response_id=final.id, tools=[WEATHER],
                                input=[{"type": "function_call_output", "call_id": call.call_id, "output": "-3C"}])
    assert second.output_text == "Cold in Oslo."
    sent = fakes.bedrock.requests(FakeBedrock.path(BEDROCK))[-1].json()["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "user"]
    assert "toolUse" in sent[1]["content"][-1] and "toolResult" in sent[2]["content"][0]


@pytest.mark.parametrize("stream", [False, True])
def test_translated_upstream_failing_before_the_answer(gw: GatewayServer, fakes: Fakes, stream: bool,  # noqa: F811
                                                       client: Callable[..., Any]) -> None:
    from tests.fakes.anthropic_upstream import error_body

    fakes.anthropic.script("/v1/messages", Script(status=500, body=error_body("api_error", "claude fell over")))
    with pytest.raises(openai.InternalServerError) as info:
        r = client(gw).responses.create(model=CLAUDE, input="hi", stream=stream)
        if stream:
            list(r)
    assert info.value.status_code == 500 and "claude fell over" in str(info.value)
    assert isinstance(info.value.body, dict) and set(info.value.body) >= {"message", "type"}
