"""The openai SDK against Gemini-backed models: generateContent, SSE streaming, tools, images, errors."""

from __future__ import annotations

from collections.abc import Callable

import json

import openai
import pytest

from tests.fakes.gateway import GatewayServer
from tests.fakes.gemini_upstream import FakeGemini, gemini_response, sse, text_stream, usage_metadata
from tests.fakes.multi import GEMINI, GOOGLE_KEY, Accounting, Fakes, _clean_fakes, client, fakes, last_json, multi  # noqa: F401
from tests.fakes.openai_upstream import Script

# A parameter literally named like a schema keyword must survive the schema cleanup.
TOOLS = [{"type": "function", "function": {"name": "create_note", "description": "Store a note",
                                           "parameters": {"type": "object", "additionalProperties": False,
                                                          "properties": {"title": {"type": "string", "title": "Title"},
                                                                         "default": {"type": "boolean"}},
                                                          "required": ["title"]}}}]

Client = Callable[..., openai.OpenAI]


def test_plain_chat(multi: GatewayServer, fakes: Fakes, client: Client) -> None:
    acc = Accounting(multi)
    r = client(multi).chat.completions.create(
        model="flash", max_tokens=50, temperature=0.5,
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}])
    assert r.choices[0].message.content == "Hello from the fake Gemini upstream."
    assert r.usage is not None and (r.usage.prompt_tokens, r.usage.completion_tokens, r.usage.total_tokens) == (9, 6, 15)
    rec = fakes.gemini.requests()[-1]
    assert rec.path == FakeGemini.path(GEMINI) and rec.query == ""
    assert rec.headers["x-goog-api-key"] == GOOGLE_KEY
    assert rec.json() == {"contents": [{"role": "user", "parts": [{"text": "hi"}]}],
                          "systemInstruction": {"parts": [{"text": "Be brief."}]},
                          "generationConfig": {"maxOutputTokens": 50, "temperature": 0.5}}
    assert acc.delta("gem") == (9, 6)


def test_streaming_counts_usage_once(multi: GatewayServer, fakes: Fakes, client: Client) -> None:
    fakes.gemini.script(FakeGemini.path(GEMINI, True), Script(chunks=text_stream(["a", "b", "c", "d"], (30, 4))))
    acc = Accounting(multi)
    chunks = list(client(multi).chat.completions.create(
        model=GEMINI, messages=[{"role": "user", "content": "hi"}], stream=True, stream_options={"include_usage": True}))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "abcd"
    usages = [c.usage for c in chunks if c.usage is not None]
    assert len(usages) == 1 and (usages[0].prompt_tokens, usages[0].completion_tokens) == (30, 4)
    rec = fakes.gemini.requests()[-1]
    assert rec.path == FakeGemini.path(GEMINI, True) and rec.query == "alt=sse"
    # Gemini repeated a cumulative usage on all four chunks: the gateway books it once.
    assert acc.delta("gem") == (30, 4)


def test_function_calls_and_schema_cleanup(multi: GatewayServer, fakes: Fakes, client: Client) -> None:
    fakes.gemini.default_reply = gemini_response([{"functionCall": {"name": "create_note", "args": {"title": "x", "default": True}}}])
    r = client(multi).chat.completions.create(model=GEMINI, messages=[{"role": "user", "content": "note"}],
                                              tools=TOOLS, tool_choice="auto")
    assert r.choices[0].finish_reason == "tool_calls"
    call = r.choices[0].message.tool_calls[0]
    assert call.function.name == "create_note" and json.loads(call.function.arguments) == {"title": "x", "default": True}
    sent = last_json(fakes.gemini)
    decl = sent["tools"][0]["functionDeclarations"][0]
    assert set(decl["parameters"]["properties"]) == {"title", "default"}
    assert "additionalProperties" not in decl["parameters"] and "title" not in decl["parameters"]["properties"]["title"]
    assert sent["toolConfig"] == {"functionCallingConfig": {"mode": "AUTO"}}
    # The result goes back as a functionResponse named after the call.
    follow = [{"role": "user", "content": "note"}, r.choices[0].message.model_dump(exclude_none=True),
              {"role": "tool", "tool_call_id": call.id, "content": '{"ok": true}'}]
    fakes.gemini.default_reply = None
    client(multi).chat.completions.create(model=GEMINI, messages=follow, tools=TOOLS)
    contents = last_json(fakes.gemini)["contents"]
    assert contents[1]["parts"][0]["functionCall"]["name"] == "create_note"
    assert contents[2] == {"role": "user", "parts": [{"functionResponse": {"name": "create_note", "response": {"ok": True}}}]}


def test_streamed_function_call(multi: GatewayServer, fakes: Fakes, client: Client) -> None:
    chunks = [sse({"candidates": [{"content": {"role": "model", "parts": [
        {"functionCall": {"name": "create_note", "args": {"title": "t"}}}]}, "finishReason": "STOP"}],
        "usageMetadata": usage_metadata(5, 2)})]
    fakes.gemini.script(FakeGemini.path(GEMINI, True), Script(chunks=chunks))
    out = list(client(multi).chat.completions.create(model=GEMINI, messages=[{"role": "user", "content": "n"}],
                                                     tools=TOOLS, stream=True))
    calls = [tc for c in out if c.choices for tc in (c.choices[0].delta.tool_calls or [])]
    assert len(calls) == 1 and json.loads(calls[0].function.arguments) == {"title": "t"}
    assert [c.choices[0].finish_reason for c in out if c.choices and c.choices[0].finish_reason] == ["tool_calls"]


def test_images_are_sent_inline(multi: GatewayServer, fakes: Fakes, client: Client) -> None:
    content = [{"type": "text", "text": "what?"}, {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/4AAQ"}}]
    client(multi).chat.completions.create(model=GEMINI, messages=[{"role": "user", "content": content}])
    parts = last_json(fakes.gemini)["contents"][0]["parts"]
    assert parts == [{"text": "what?"}, {"inlineData": {"mimeType": "image/jpeg", "data": "/9j/4AAQ"}}]


@pytest.mark.parametrize("status, google_status, exc", [
    (400, "INVALID_ARGUMENT", openai.BadRequestError),
    (403, "PERMISSION_DENIED", openai.PermissionDeniedError),
    (429, "RESOURCE_EXHAUSTED", openai.RateLimitError),
    (503, "UNAVAILABLE", openai.InternalServerError),
])
def test_errors(multi: GatewayServer, fakes: Fakes, status: int, google_status: str, exc: type[Exception], client: Client) -> None:
    body = json.dumps({"error": {"code": status, "message": f"gemini says {google_status}", "status": google_status}}).encode()
    fakes.gemini.script(FakeGemini.path(GEMINI), Script(status=status, body=body))
    with pytest.raises(exc) as info:
        client(multi).chat.completions.create(model=GEMINI, messages=[{"role": "user", "content": "hi"}])
    assert info.value.status_code == status  # type: ignore[attr-defined]
    assert info.value.body["message"] == f"gemini says {google_status}"  # type: ignore[attr-defined,index]
    assert info.value.code == google_status  # type: ignore[attr-defined]


def test_error_payload_mid_stream(multi: GatewayServer, fakes: Fakes, client: Client) -> None:
    chunks = text_stream(["ok"])[:1] + [sse({"error": {"code": 500, "message": "internal", "status": "INTERNAL"}})]
    fakes.gemini.script(FakeGemini.path(GEMINI, True), Script(chunks=chunks))
    got = []
    with pytest.raises(openai.APIError, match="internal"):
        for c in client(multi).chat.completions.create(model=GEMINI, messages=[{"role": "user", "content": "hi"}], stream=True):
            got.append(c)
    assert "".join(c.choices[0].delta.content or "" for c in got if c.choices) == "ok"
