"""Anthropic Messages upstreams (kind `anthropic`, and Anthropic-compatible services via base_url)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aiohttp
import msgspec

from crabllm.config.schema import ProviderConfig
from crabllm.config.secret import reveal
from crabllm.errors import UnsupportedOperation, UpstreamError, UpstreamProtocolError
from crabllm.providers.base import Endpoint
from crabllm.providers.openai import AiohttpUpstream
from crabllm.providers.timeouts import Timeouts
from crabllm.providers.transport import (
    EventTranslator, Poster, TranslatedUpstream, decode_json, decode_request, encode, encode_request, openai_error,
    sse_chunks,
)
from crabllm.translate.anthropic_out import AnthropicStreamToOpenAI, anthropic_to_openai_response, openai_to_anthropic_request
from crabllm.translate.sse import SSEDecoder, event_json
from crabllm.types.chat import PRIVATE_KEY

DEFAULT_BASE_URL = "https://api.anthropic.com"
ANTHROPIC_VERSION = "2023-06-01"
OAUTH_PREFIX = "sk-ant-oat"
OAUTH_BETA = "oauth-2025-04-20"
#: Key under the request's PRIVATE_KEY holding the client's `anthropic-beta` header value.
BETA_KEY = "anthropic_beta"


def anthropic_base_url(url: str) -> str:
    """The API root ending in /v1, from either SDK style (`https://host[/prefix]`) or `…/v1[/messages]`."""
    url = url.rstrip("/")
    for suffix in ("/messages/count_tokens", "/messages"):
        if url.endswith(suffix):
            url = url[: -len(suffix)]
            break
    return url if url.endswith("/v1") else url + "/v1"


def join_beta(*values: str | None) -> str | None:
    """One comma-separated `anthropic-beta` value without duplicates (None when empty)."""
    seen: dict[str, None] = {}
    for value in values:
        for item in (value or "").split(","):
            if item.strip():
                seen[item.strip()] = None
    return ",".join(seen) or None


def with_beta(req: dict[str, Any], beta: str | None) -> dict[str, Any]:
    """Carry a client's anthropic-beta header inside an internal OpenAI request (never sent upstream as a field)."""
    if beta:
        private = req.get(PRIVATE_KEY)
        req[PRIVATE_KEY] = {**(private if isinstance(private, dict) else {}), BETA_KEY: beta}
    return req


def anthropic_error(provider: str) -> Any:
    """Error mapper for Anthropic error bodies → OpenAI envelope (status kept, Anthropic's type kept)."""

    def mapper(status: int, raw: bytes, headers: Mapping[str, str]) -> UpstreamError:
        message, type_ = _anthropic_error_parts(raw, status)
        return openai_error(status, message, provider=provider, type_=type_)

    return mapper


def _native_error(provider: str) -> Any:
    def mapper(status: int, raw: bytes, headers: Mapping[str, str]) -> UpstreamError:
        return UpstreamError(status, raw, provider=provider, content_type=headers.get("content-type", "application/json"))

    return mapper


def _anthropic_error_parts(raw: bytes, status: int) -> tuple[str, str | None]:
    try:
        data = msgspec.json.decode(raw)
    except (msgspec.DecodeError, RecursionError):
        return (raw[:500].decode("utf-8", "replace").strip() or f"upstream returned status {status}"), None
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict):
        return str(error.get("message") or f"upstream returned status {status}"), (
            error["type"] if isinstance(error.get("type"), str) else None)
    return f"upstream returned status {status}", None


class AnthropicSSEStream(EventTranslator):
    """Anthropic Messages SSE bytes → OpenAI chunk SSE bytes."""

    def __init__(self, model: str) -> None:
        self._sse = SSEDecoder()
        self._tr = AnthropicStreamToOpenAI(model)
        self.stopped = False

    def feed(self, data: bytes) -> bytes:
        return self._collect(self._sse.feed(data))

    def finish(self) -> bytes:
        out = self._collect(self._sse.flush())
        if self.error is None and not self.stopped:
            self.error = UpstreamProtocolError("the Anthropic stream ended before message_stop")
        return out + sse_chunks(self._tr.finish())

    def _chunks(self, event: Any) -> list[dict[str, Any]]:
        data = event_json(event)
        if not isinstance(data, dict):
            return []
        if (event.event or data.get("type")) == "message_stop":
            self.stopped = True
        return self._tr.feed(event.event, data)


class AnthropicProvider:
    """Chat is translated OpenAI ⇄ Messages; `send_native` relays Messages bytes untouched."""

    passthrough = False

    def __init__(self, name: str, cfg: ProviderConfig, session: aiohttp.ClientSession) -> None:
        self.name = name
        self.kind = cfg.kind
        self.weight = cfg.weight
        self.max_retries = cfg.max_retries
        self.base_url = anthropic_base_url(cfg.base_url or DEFAULT_BASE_URL)
        self.version = cfg.api_version or ANTHROPIC_VERSION
        key = reveal(cfg.api_key)
        # Bodies are parsed or relayed byte for byte, so they must arrive uncompressed.
        self._headers = {"content-type": "application/json", "accept-encoding": "identity"}
        self._beta: str | None = None
        if key.startswith(OAUTH_PREFIX):
            self._headers["authorization"] = f"Bearer {key}"
            self._beta = OAUTH_BETA
        else:
            self._headers["x-api-key"] = key
        self._poster = Poster(session, name, Timeouts(cfg), anthropic_error(name))
        self._native = Poster(session, name, Timeouts(cfg), _native_error(name))

    def supports(self, endpoint: Endpoint) -> bool:
        return endpoint is Endpoint.CHAT

    def _request_headers(self, version: str | None, beta: str | None) -> dict[str, str]:
        headers = {**self._headers, "anthropic-version": version or self.version}
        beta = join_beta(self._beta, beta)
        if beta:
            headers["anthropic-beta"] = beta
        return headers

    async def send(self, endpoint: Endpoint, body: bytes, model: str, stream: bool, *,
                   content_type: str | None = None) -> TranslatedUpstream:
        if endpoint is not Endpoint.CHAT:
            raise UnsupportedOperation(f"provider '{self.name}' (kind anthropic) does not support /v1/{endpoint.value}")
        req = decode_request(body)
        private = req.get(PRIVATE_KEY)
        beta = private.get(BETA_KEY) if isinstance(private, dict) else None
        out = openai_to_anthropic_request(req, model)
        out["model"] = model  # never a value smuggled in through the private fields (key allow-lists)
        if stream:
            out["stream"] = True
        else:
            out.pop("stream", None)
        headers = self._request_headers(None, beta if isinstance(beta, str) else None)
        raw = await self._poster.post(f"{self.base_url}/messages", encode_request(out), headers, stream)
        if stream:
            return TranslatedUpstream(raw, stream=AnthropicSSEStream(model))

        def convert(raw: bytes) -> bytes:
            data = decode_json(raw, f"provider '{self.name}'")
            if not isinstance(data, dict):
                raise UpstreamProtocolError(f"provider '{self.name}' returned a response that is not a JSON object")
            return encode(anthropic_to_openai_response(data, str(data.get("model") or model)))

        return TranslatedUpstream(raw, convert=convert)

    async def send_native(self, path: str, body: bytes, stream: bool, *, version: str | None = None,
                          beta: str | None = None) -> AiohttpUpstream:
        """POST Anthropic-shaped bytes to `<base>/<path>`; errors keep the upstream's own body."""
        headers = self._request_headers(version, beta)
        raw = await self._native.post(f"{self.base_url}/{path}", body, headers, stream)
        return raw

    async def close(self) -> None:
        """The session is shared and owned by the server; nothing to release here."""
