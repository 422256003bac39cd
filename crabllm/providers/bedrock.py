"""AWS Bedrock upstreams (kind `bedrock`): Converse / ConverseStream, SigV4-signed, event-stream decoded."""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import msgspec
from yarl import URL

from crabllm.config.schema import ProviderConfig
from crabllm.config.secret import reveal
from crabllm.errors import ConfigError, CrabError, UnsupportedOperation, UpstreamError, UpstreamProtocolError
from crabllm.providers.base import Endpoint
from crabllm.providers.timeouts import Timeouts
from crabllm.providers.transport import (
    EventTranslator, Poster, TranslatedUpstream, decode_json, decode_request, encode, encode_request, openai_error,
    sse_chunks,
)
from crabllm.translate.bedrock import ConverseStreamToOpenAI, converse_to_openai_response, openai_to_converse_request
from crabllm.translate.eventstream import EventStreamDecoder, frame_to_event
from crabllm.translate.sigv4 import converse_path, sign

SERVICE = "bedrock"  # the SigV4 signing name of Bedrock Runtime (not "bedrock-runtime")


def bedrock_region(cfg: ProviderConfig, env: Mapping[str, str]) -> str | None:
    return cfg.region or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None


def bedrock_credentials(cfg: ProviderConfig, env: Mapping[str, str]) -> tuple[str, str, str | None] | None:
    """(access key, secret key, session token) from the config, else the standard AWS variables."""
    if cfg.access_key or cfg.secret_key:
        if cfg.access_key and cfg.secret_key:
            return cfg.access_key.reveal(), cfg.secret_key.reveal(), reveal(cfg.session_token) or None
        return None
    access, secret = env.get("AWS_ACCESS_KEY_ID"), env.get("AWS_SECRET_ACCESS_KEY")
    if access and secret:
        return access, secret, reveal(cfg.session_token) or env.get("AWS_SESSION_TOKEN") or None
    return None


def bedrock_error(provider: str) -> Any:
    """AWS JSON errors (`x-amzn-ErrorType` header, `{"message": …}` body) → OpenAI envelope."""

    def mapper(status: int, raw: bytes, headers: Mapping[str, str]) -> UpstreamError:
        kind = (headers.get("x-amzn-errortype") or "").split(":", 1)[0] or None
        message = f"upstream returned status {status}"
        try:
            data = msgspec.json.decode(raw)
        except (msgspec.DecodeError, RecursionError):
            data = None
            message = raw[:500].decode("utf-8", "replace").strip() or message
        if isinstance(data, dict):
            message = str(data.get("message") or data.get("Message") or message)
            kind = kind or (data.get("__type") if isinstance(data.get("__type"), str) else None)
        if kind:
            kind = kind.rsplit("#", 1)[-1]
        return openai_error(status, f"{kind}: {message}" if kind else message, provider=provider, code=kind)

    return mapper


class ConverseEventStream(EventTranslator):
    """ConverseStream binary event-stream bytes → OpenAI chunk SSE bytes."""

    def __init__(self, model: str) -> None:
        self._frames = EventStreamDecoder()
        self._tr = ConverseStreamToOpenAI(model)

    def feed(self, data: bytes) -> bytes:
        try:
            frames = self._frames.feed(data)
        except CrabError as e:  # a corrupt frame: nothing after it can be trusted
            self.error = e
            return b""
        return self._collect(frames)

    def finish(self) -> bytes:
        if self.error is None and self._frames.pending():
            self.error = UpstreamProtocolError("the Bedrock event stream ended inside a frame")
        return sse_chunks(self._tr.finish())

    def _chunks(self, frame: Any) -> list[dict[str, Any]]:
        return self._tr.feed(*frame_to_event(frame))


class BedrockProvider:
    """Chat translated OpenAI ⇄ Converse; every request is signed with SigV4 (no AWS SDK)."""

    passthrough = False

    def __init__(self, name: str, cfg: ProviderConfig, session: aiohttp.ClientSession,
                 env: Mapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        self.name = name
        self.kind = cfg.kind
        self.weight = cfg.weight
        self.max_retries = cfg.max_retries
        region = bedrock_region(cfg, env)
        credentials = bedrock_credentials(cfg, env)
        if region is None or credentials is None:
            # The config validator reports this with its TOML path; this guards direct construction.
            raise ConfigError(f"provider '{name}' (bedrock) needs a region and AWS credentials",
                              path=f"providers.{name}")
        self.region = region
        self._access, self._secret, self._token = credentials
        self.base_url = (cfg.base_url or f"https://bedrock-runtime.{region}.amazonaws.com").rstrip("/")
        self._host = _host(self.base_url)
        self._poster = Poster(session, name, Timeouts(cfg), bedrock_error(name),
                              stream_type="application/vnd.amazon.eventstream")

    def supports(self, endpoint: Endpoint) -> bool:
        return endpoint is Endpoint.CHAT

    def signed_headers(self, url: str, body: bytes, stream: bool, now: datetime | None = None) -> dict[str, str]:
        headers = {"content-type": "application/json", "host": self._host}
        if stream:
            headers["accept"] = "application/vnd.amazon.eventstream"
        headers.update(sign("POST", url, headers, body, access_key=self._access, secret_key=self._secret,
                            session_token=self._token, region=self.region, service=SERVICE,
                            now=now or datetime.now(timezone.utc)))
        headers["accept-encoding"] = "identity"  # unsigned, like every header added after signing
        return headers

    async def send(self, endpoint: Endpoint, body: bytes, model: str, stream: bool, *,
                   content_type: str | None = None) -> TranslatedUpstream:
        if endpoint is not Endpoint.CHAT:
            raise UnsupportedOperation(f"provider '{self.name}' (kind bedrock) does not support /v1/{endpoint.value}")
        payload = encode_request(openai_to_converse_request(decode_request(body)))
        url = self.base_url + converse_path(model, stream)
        headers = self.signed_headers(url, payload, stream)
        # encoded=True: the model id's %3A must reach AWS exactly as it was signed.
        raw = await self._poster.post(URL(url, encoded=True), payload, headers, stream)
        if stream:
            return TranslatedUpstream(raw, stream=ConverseEventStream(model))

        def convert(raw: bytes) -> bytes:
            data = decode_json(raw, f"provider '{self.name}'")
            if not isinstance(data, dict):
                raise UpstreamProtocolError(f"provider '{self.name}' returned a response that is not a JSON object")
            return encode(converse_to_openai_response(data, model))

        return TranslatedUpstream(raw, convert=convert)

    async def close(self) -> None:
        """The session is shared and owned by the server; nothing to release here."""


def _host(url: str) -> str:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.port and (parts.scheme, parts.port) not in (("http", 80), ("https", 443)):
        return f"{host}:{parts.port}"
    return host
