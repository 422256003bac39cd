"""Google Gemini upstreams (kind `google`): generateContent and streamGenerateContent?alt=sse."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import aiohttp
import msgspec

from crabllm.config.schema import ProviderConfig
from crabllm.config.secret import reveal
from crabllm.errors import UnsupportedOperation, UpstreamError, UpstreamProtocolError
from crabllm.providers.base import Endpoint
from crabllm.providers.timeouts import Timeouts
from crabllm.providers.transport import (
    EventTranslator, Poster, TranslatedUpstream, decode_json, decode_request, encode, encode_request, openai_error,
    sse_chunks,
)
from crabllm.translate.gemini import GeminiStreamToOpenAI, gemini_to_openai_response, openai_to_gemini_request
from crabllm.translate.sse import SSEDecoder, event_json

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com/v1beta"


def gemini_error(provider: str) -> Any:
    """Google's `{"error": {code, message, status}}` (or a one-element list of it) → OpenAI envelope."""

    def mapper(status: int, raw: bytes, headers: Mapping[str, str]) -> UpstreamError:
        message, code = f"upstream returned status {status}", None
        try:
            data = msgspec.json.decode(raw)
        except (msgspec.DecodeError, RecursionError):
            data = None
            message = raw[:500].decode("utf-8", "replace").strip() or message
        if isinstance(data, list) and data:
            data = data[0]
        error = data.get("error") if isinstance(data, dict) else None
        if isinstance(error, dict):
            message = str(error.get("message") or message)
            code = error.get("status") if isinstance(error.get("status"), str) else None
        return openai_error(status, message, provider=provider, code=code)

    return mapper


class GeminiSSEStream(EventTranslator):
    """Gemini `alt=sse` bytes → OpenAI chunk SSE bytes; usage is reported once, at the end."""

    def __init__(self, model: str) -> None:
        self._sse = SSEDecoder()
        self._tr = GeminiStreamToOpenAI(model)

    def feed(self, data: bytes) -> bytes:
        return self._collect(self._sse.feed(data))

    def finish(self) -> bytes:
        return self._collect(self._sse.flush()) + sse_chunks(self._tr.finish())

    def _chunks(self, event: Any) -> list[dict[str, Any]]:
        data = event_json(event)
        return self._tr.feed(data) if isinstance(data, dict) else []


class GoogleProvider:
    """Chat translated OpenAI ⇄ Gemini; the model name goes in the URL."""

    passthrough = False

    def __init__(self, name: str, cfg: ProviderConfig, session: aiohttp.ClientSession) -> None:
        self.name = name
        self.kind = cfg.kind
        self.weight = cfg.weight
        self.max_retries = cfg.max_retries
        self.base_url = (cfg.base_url or DEFAULT_BASE_URL).rstrip("/")
        self._headers = {"content-type": "application/json", "accept-encoding": "identity",
                         "x-goog-api-key": reveal(cfg.api_key)}
        self._poster = Poster(session, name, Timeouts(cfg), gemini_error(name))

    def supports(self, endpoint: Endpoint) -> bool:
        return endpoint is Endpoint.CHAT

    def url(self, model: str, stream: bool) -> str:
        name = quote(model.removeprefix("models/"), safe="-._~")
        op = "streamGenerateContent?alt=sse" if stream else "generateContent"
        return f"{self.base_url}/models/{name}:{op}"

    async def send(self, endpoint: Endpoint, body: bytes, model: str, stream: bool, *,
                   content_type: str | None = None) -> TranslatedUpstream:
        if endpoint is not Endpoint.CHAT:
            raise UnsupportedOperation(f"provider '{self.name}' (kind google) does not support /v1/{endpoint.value}")
        req = decode_request(body)
        req["model"] = model
        out = openai_to_gemini_request(req)
        raw = await self._poster.post(self.url(model, stream), encode_request(out), self._headers, stream)
        if stream:
            return TranslatedUpstream(raw, stream=GeminiSSEStream(model))

        def convert(raw: bytes) -> bytes:
            data = decode_json(raw, f"provider '{self.name}'")
            if not isinstance(data, dict):
                raise UpstreamProtocolError(f"provider '{self.name}' returned a response that is not a JSON object")
            return encode(gemini_to_openai_response(data, model))

        return TranslatedUpstream(raw, convert=convert)

    async def close(self) -> None:
        """The session is shared and owned by the server; nothing to release here."""
