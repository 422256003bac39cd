"""The openai SDK against Bedrock-backed models: SigV4 checked by botocore, Converse, event-stream frames."""

from __future__ import annotations

import json
from collections.abc import Callable

import openai
import pytest

from tests.fakes.bedrock_upstream import (
    ACCESS_KEY, REGION, SECRET_KEY, FakeBedrock, converse_response, exception_frame, frame, text_stream, tool_stream,
)
from tests.fakes.gateway import GatewayServer
from tests.fakes.multi import BEDROCK, Accounting, Fakes, _clean_fakes, client, fakes, last_json, multi  # noqa: F401
from tests.fakes.openai_upstream import Script

TOOLS = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}}]

Client = Callable[..., openai.OpenAI]


def test_converse_signed_and_translated(multi: GatewayServer, fakes: Fakes, client: Client) -> None:
    acc = Accounting(multi)
    r = client(multi).chat.completions.create(
        model="br-sonnet", max_tokens=64, messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}])
    assert r.choices[0].message.content == "Hello from the fake Bedrock upstream."
    assert r.usage is not None and (r.usage.prompt_tokens, r.usage.completion_tokens, r.usage.total_tokens) == (15, 5, 20)
    rec = fakes.bedrock.requests()[-1]
    assert rec.path == FakeBedrock.path(BEDROCK)
    check = fakes.bedrock.checks[-1]
    assert check.ok, (check.expected, check.received)
    assert f"Credential={ACCESS_KEY}/" in check.received and f"/{REGION}/bedrock/aws4_request" in check.received
    assert rec.json() == {"messages": [{"role": "user", "content": [{"text": "hi"}]}], "system": [{"text": "Be brief."}],
                          "inferenceConfig": {"maxTokens": 64}}
    assert acc.delta("br") == (15, 5)


def test_model_id_colon_is_encoded_on_the_wire(multi: GatewayServer, fakes: Fakes, client: Client) -> None:
    client(multi).chat.completions.create(model=BEDROCK, messages=[{"role": "user", "content": "hi"}])
    # The fake signs what it received, so a match proves both sides used /model/…v1%3A0/converse.
    assert fakes.bedrock.checks[-1].ok


def test_converse_stream(multi: GatewayServer, fakes: Fakes, client: Client) -> None:
    fakes.bedrock.script(FakeBedrock.path(BEDROCK, True), Script(chunks=text_stream(["Bon", "jour"], (17, 2))))
    acc = Accounting(multi)
    chunks = list(client(multi).chat.completions.create(
        model=BEDROCK, messages=[{"role": "user", "content": "hi"}], stream=True, stream_options={"include_usage": True}))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Bonjour"
    assert chunks[-1].usage is not None and (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (17, 2)
    assert fakes.bedrock.checks[-1].ok
    assert acc.delta("br") == (17, 2)


def test_streamed_tool_use(multi: GatewayServer, fakes: Fakes, client: Client) -> None:
    fakes.bedrock.script(FakeBedrock.path(BEDROCK, True), Script(chunks=tool_stream("tooluse_1", "lookup", ['{"q":', '"crabs"}'])))
    chunks = list(client(multi).chat.completions.create(model=BEDROCK, messages=[{"role": "user", "content": "?"}],
                                                        tools=TOOLS, stream=True))
    calls = [tc for c in chunks if c.choices for tc in (c.choices[0].delta.tool_calls or [])]
    assert calls[0].id == "tooluse_1" and calls[0].function.name == "lookup"
    assert json.loads("".join(tc.function.arguments or "" for tc in calls)) == {"q": "crabs"}
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
    assert last_json(fakes.bedrock)["toolConfig"]["tools"][0]["toolSpec"]["name"] == "lookup"


def test_tool_use_non_stream(multi: GatewayServer, fakes: Fakes, client: Client) -> None:
    fakes.bedrock.default_reply = converse_response(
        [{"toolUse": {"toolUseId": "tu_7", "name": "lookup", "input": {"q": "x"}}}], stop="tool_use")
    r = client(multi).chat.completions.create(model=BEDROCK, messages=[{"role": "user", "content": "?"}], tools=TOOLS)
    assert r.choices[0].finish_reason == "tool_calls"
    assert r.choices[0].message.tool_calls[0].id == "tu_7"


def test_exception_frame_mid_stream(multi: GatewayServer, fakes: Fakes, client: Client) -> None:
    chunks = text_stream(["partial"])[:2] + [exception_frame("throttlingException", "Too many tokens")]
    fakes.bedrock.script(FakeBedrock.path(BEDROCK, True), Script(chunks=chunks))
    got = []
    with pytest.raises(openai.APIError, match="Too many tokens"):
        for c in client(multi).chat.completions.create(model=BEDROCK, messages=[{"role": "user", "content": "hi"}], stream=True):
            got.append(c)
    assert "".join(c.choices[0].delta.content or "" for c in got if c.choices) == "partial"


def test_corrupt_frame_is_an_in_band_error(multi: GatewayServer, fakes: Fakes, client: Client) -> None:
    bad = bytearray(frame("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "x"}}))
    bad[-1] ^= 0xFF  # breaks the message CRC
    fakes.bedrock.script(FakeBedrock.path(BEDROCK, True), Script(chunks=text_stream(["a"])[:2] + [bytes(bad)]))
    with pytest.raises(openai.APIError, match="CRC"):
        list(client(multi).chat.completions.create(model=BEDROCK, messages=[{"role": "user", "content": "hi"}], stream=True))


@pytest.mark.parametrize("status, kind, exc", [
    (400, "ValidationException", openai.BadRequestError),
    (403, "AccessDeniedException", openai.PermissionDeniedError),
    (429, "ThrottlingException", openai.RateLimitError),
])
def test_http_errors(multi: GatewayServer, fakes: Fakes, status: int, kind: str, exc: type[Exception], client: Client) -> None:
    fakes.bedrock.script(FakeBedrock.path(BEDROCK), Script(status=status, body=json.dumps({"message": "nope"}).encode(),
                                                           headers={"x-amzn-ErrorType": f"{kind}:http://internal.amazon.com/"}))
    with pytest.raises(exc) as info:
        client(multi).chat.completions.create(model=BEDROCK, messages=[{"role": "user", "content": "hi"}])
    assert info.value.code == kind and info.value.body["message"] == f"{kind}: nope"  # type: ignore[attr-defined,index]


def test_credentials_and_region_from_the_environment(monkeypatch: pytest.MonkeyPatch,
                                                     make_gateway: Callable[[str], GatewayServer], client: Client) -> None:
    fake = FakeBedrock().start()
    try:
        fake.token = "FQoGZXIvYXdzEJr//session+token=="
        monkeypatch.setenv("AWS_REGION", REGION)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        monkeypatch.setenv("AWS_SESSION_TOKEN", fake.token)
        gw = make_gateway(f'[providers.b]\nkind = "bedrock"\nbase_url = "{fake.base_url}"\nmodels = ["m:1"]\n')
        r = client(gw, "x").chat.completions.create(
            model="m:1", messages=[{"role": "user", "content": "hi"}])
        assert r.choices[0].message.content
        assert fake.checks[-1].ok
        assert fake.requests()[-1].headers["x-amz-security-token"] == fake.token
    finally:
        fake.stop()


def test_wrong_secret_is_rejected_by_the_signature_check(make_gateway: Callable[[str], GatewayServer], client: Client) -> None:
    fake = FakeBedrock().start()
    try:
        gw = make_gateway(f'[providers.b]\nkind = "bedrock"\nregion = "{REGION}"\naccess_key = "{ACCESS_KEY}"\n'
                          f'secret_key = "wrong"\nbase_url = "{fake.base_url}"\nmodels = ["m"]\nmax_retries = 0\n')
        with pytest.raises(openai.PermissionDeniedError, match="signature"):
            client(gw, "x").chat.completions.create(
                model="m", messages=[{"role": "user", "content": "hi"}])
        assert not fake.checks[-1].ok
    finally:
        fake.stop()
