"""Images and audio through the openai SDK: mock and OpenAI-compatible upstreams, aliases, errors, fallback."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

import httpx
import openai
import pytest

from tests.conftest import KEY
from tests.fakes.gateway import GatewayServer
from tests.fakes.multi import BEDROCK, CLAUDE, GEMINI, Accounting, Fakes, _clean_fakes, client, fakes, multi  # noqa: F401
from tests.fakes.openai_upstream import FakeOpenAI, Script

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

Client = Callable[..., openai.OpenAI]


def form_fields(content_type: str, body: bytes) -> dict[str, Any]:
    """Parse a multipart body with the standard library (independent of the gateway's scanner)."""
    msg = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    out: dict[str, Any] = {}
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        out[name] = (part.get_filename(), payload) if part.get_filename() else payload.decode()
    return out


def test_mock_image(multi: GatewayServer, client: Client) -> None:
    r = client(multi).images.generate(model="mock-image", prompt="a crab", n=2)
    assert len(r.data) == 2 and base64.b64decode(r.data[0].b64_json or "").startswith(PNG_MAGIC)
    r = client(multi).images.generate(model="mock-image", prompt="a crab", response_format="url")
    assert (r.data[0].url or "").startswith("data:image/png;base64,")


def test_image_relayed_to_openai_with_alias_rewritten(multi: GatewayServer, fakes: Fakes, client: Client) -> None:
    answer = {"created": 1, "data": [{"b64_json": "AAAA"}], "usage": {"input_tokens": 12, "output_tokens": 4160,
                                                                      "total_tokens": 4172}}
    raw = json.dumps(answer).encode()
    fakes.openai.script("/v1/images/generations", Script(body=raw))
    acc = Accounting(multi)
    r = client(multi).images.with_raw_response.generate(model="painter", prompt="a crab", size="1024x1024",
                                                        quality="hd", extra_body={"background": "transparent"})
    assert r.http_response.content == raw  # upstream bytes untouched
    sent = fakes.openai.requests("/v1/images/generations")[-1].json()
    assert sent == {"model": "dall-e-3", "prompt": "a crab", "size": "1024x1024", "quality": "hd", "background": "transparent"}
    assert acc.delta("oai") == (12, 4160)


def test_mock_speech(multi: GatewayServer, client: Client) -> None:
    r = client(multi).audio.speech.create(model="mock-tts", voice="alloy", input="hello", response_format="wav")
    assert r.response.headers["content-type"] == "audio/wav" and r.content.startswith(b"RIFF")
    r = client(multi).audio.speech.create(model="mock-tts", voice="alloy", input="hello")
    assert r.response.headers["content-type"] == "audio/mpeg" and r.content


def test_speech_is_streamed_back_with_its_content_type(multi: GatewayServer, fakes: Fakes, client: Client) -> None:
    pieces = [os.urandom(4096) for _ in range(4)]
    fakes.openai.script("/v1/audio/speech", Script(chunks=pieces, chunk_delay=0.05, headers={"Content-Type": "audio/ogg"}))
    with client(multi).audio.speech.with_streaming_response.create(model="tts-1", voice="nova", input="hi",
                                                                   response_format="opus") as r:
        assert r.headers["content-type"] == "audio/ogg" and "content-length" not in r.headers
        got = b"".join(r.iter_bytes())
    assert got == b"".join(pieces)
    assert fakes.openai.requests("/v1/audio/speech")[-1].json() == {
        "model": "tts-1", "voice": "nova", "input": "hi", "response_format": "opus"}


def test_mock_transcription_formats(multi: GatewayServer, client: Client) -> None:
    c = client(multi)
    r = c.audio.transcriptions.create(model="mock-whisper", file=("a.wav", b"RIFF0000WAVE"))
    assert r.text == "This is a mock transcription from crabllm."
    text = c.audio.transcriptions.create(model="mock-whisper", file=("a.wav", b"RIFF"), response_format="text")
    assert text.strip() == "This is a mock transcription from crabllm."
    srt = c.audio.transcriptions.create(model="mock-whisper", file=("a.wav", b"RIFF"), response_format="srt")
    assert "00:00:00,000 --> 00:00:01,000" in srt


def test_transcription_multipart_relayed_intact(multi: GatewayServer, fakes: Fakes, client: Client) -> None:
    audio = os.urandom(1 << 20)
    fakes.openai.script("/v1/audio/transcriptions", Script(body=b"hello world\n", headers={"Content-Type": "text/plain"}))
    text = client(multi).audio.transcriptions.create(model="whisper", file=("talk.mp3", audio, "audio/mpeg"),
                                                     response_format="text", language="en", temperature=0.2)
    assert text == "hello world\n"
    rec = fakes.openai.requests("/v1/audio/transcriptions")[-1]
    assert rec.headers["Content-Type"].startswith("multipart/form-data; boundary=")
    fields = form_fields(rec.headers["Content-Type"], rec.body)
    assert fields["model"] == "whisper-1"  # the alias, rewritten in place
    assert fields["file"] == ("talk.mp3", audio)
    assert (fields["language"], fields["response_format"], fields["temperature"]) == ("en", "text", "0.2")


@pytest.mark.parametrize("call", [
    lambda c: c.images.generate(model=CLAUDE, prompt="x"),
    lambda c: c.audio.speech.create(model=GEMINI, voice="alloy", input="x"),
    lambda c: c.audio.transcriptions.create(model=BEDROCK, file=("a.wav", b"RIFF")),
])
def test_other_kinds_answer_a_clear_400(multi: GatewayServer, fakes: Fakes, call: Callable[[openai.OpenAI], Any], client: Client) -> None:
    with pytest.raises(openai.BadRequestError, match="is not available for model") as info:
        call(client(multi))
    assert info.value.code == "unsupported_operation"
    assert all(not f.requests() for f in fakes.all())


def test_bad_multipart_requests(multi: GatewayServer) -> None:
    with httpx.Client(base_url=multi.url, headers={"authorization": f"Bearer {KEY}"}, timeout=10) as c:
        r = c.post("/v1/audio/transcriptions", files={"file": ("a.wav", b"RIFF")})
        assert r.status_code == 400 and "missing 'model' field" in r.json()["error"]["message"]
        r = c.post("/v1/audio/transcriptions", json={"model": "mock-whisper"})
        assert r.status_code == 400 and "multipart/form-data" in r.json()["error"]["message"]
        body = b'--XyZ\r\nContent-Disposition: form-data; name="model"\r\n\r\nmock-whisper\r\n--XyZ\r\nContent-Disp'
        r = c.post("/v1/audio/transcriptions", content=body, headers={"content-type": "multipart/form-data; boundary=XyZ"})
        assert r.status_code == 400 and "truncated" in r.json()["error"]["message"]


def test_no_retries_fallback_on_transient_only(make_gateway: Callable[[str], GatewayServer], client: Client) -> None:
    first, second = FakeOpenAI().start(), FakeOpenAI().start()
    try:
        gw = make_gateway(f'''
[providers.a]
base_url = "{first.base_url}"
models = ["img"]
max_retries = 3
[providers.b]
base_url = "{second.base_url}"
models = ["img"]
weight = 0
max_retries = 3
''')
        ok = json.dumps({"created": 1, "data": [{"url": "https://x/1.png"}]}).encode()
        first.script("/v1/images/generations", Script(status=503, body=b'{"error":{"message":"busy"}}'))
        second.script("/v1/images/generations", Script(body=ok))
        r = client(gw, "x").images.generate(model="img", prompt="p")
        assert r.data[0].url == "https://x/1.png"
        assert len(first.requests()) == 1 and len(second.requests()) == 1  # never retried, fell back once
        first.script("/v1/images/generations", Script(status=400, body=b'{"error":{"message":"unsafe prompt"}}'))
        with pytest.raises(openai.BadRequestError, match="unsafe prompt"):
            client(gw, "x").images.generate(model="img", prompt="p")
        assert len(second.requests()) == 1  # a bad request is not sent elsewhere
    finally:
        first.stop()
        second.stop()


def test_speech_cut_mid_body_is_a_truncated_transfer(multi: GatewayServer, fakes: Fakes) -> None:
    fakes.openai.script("/v1/audio/speech", Script(chunks=[b"a" * 1000, b"b" * 1000, b"c" * 1000], cut_after=2,
                                                   headers={"Content-Type": "audio/mpeg"}))
    with httpx.Client(base_url=multi.url, headers={"authorization": f"Bearer {KEY}"}, timeout=10) as c:
        with pytest.raises(httpx.RemoteProtocolError):
            c.post("/v1/audio/speech", json={"model": "tts-1", "voice": "alloy", "input": "hi"})
