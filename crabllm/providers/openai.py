"""OpenAI-wire upstreams (openai, ollama, azure, any custom OpenAI-compatible kind): bytes pass through."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from urllib.parse import quote

import aiohttp

from crabllm.config.schema import ProviderConfig
from crabllm.config.secret import reveal
from crabllm.errors import UpstreamError, UpstreamProtocolError, UpstreamTimeout, UpstreamUnavailable
from crabllm.providers.base import Endpoint, parse_retry_after
from crabllm.providers.timeouts import Timeouts
from crabllm.providers.payload import body_payload

DEFAULT_BASE_URLS = {"openai": "https://api.openai.com/v1", "ollama": "http://localhost:11434/v1"}
AZURE_API_VERSION = "2024-10-21"
_ENDPOINT_SUFFIXES = ("/chat/completions", "/embeddings", "/audio/transcriptions", "/audio/speech",
                      "/images/generations", "/models")
MAX_ERROR_BODY = 64 * 1024
#: Endpoints whose `stream: true` answer must be Server-Sent Events.
SSE_ENDPOINTS = frozenset({Endpoint.CHAT, Endpoint.RESPONSES})
NATIVE_RESPONSES_KINDS = frozenset({"openai", "azure"})


def normalize_base_url(url: str) -> str:
    """Strip a trailing slash and at most one pasted endpoint suffix."""
    url = url.rstrip("/")
    for suffix in _ENDPOINT_SUFFIXES:
        if url.endswith(suffix):
            return url[: -len(suffix)]
    return url


class AiohttpUpstream:
    """Wraps an aiohttp response whose body is already OpenAI-shaped."""

    __slots__ = ("_resp", "status", "content_type", "_first")

    def __init__(self, resp: aiohttp.ClientResponse, first: bytes = b"") -> None:
        self._resp = resp
        self.status = resp.status
        self.content_type = resp.headers.get("content-type", "application/json")
        self._first = first  # body bytes already read while waiting for the first byte

    def buffered(self) -> bytes:
        """Body bytes that arrived with the headers (or were read ahead), taken without waiting."""
        data, self._first = self._first, b""
        try:
            more = self._resp.content.read_nowait()
        except (aiohttp.ClientError, OSError, RuntimeError, TimeoutError):
            more = b""  # a broken body is reported by the first read of `chunks`
        return data + more if data and more else data or more

    async def peek(self, wait: float) -> bytes:
        """The first body bytes, waiting at most `wait` seconds for them (b"" if none came by then).

        Taken from the stream (`chunks` does not yield them again). Cancelling `readany` on the
        deadline loses nothing: aiohttp keeps arriving bytes in its buffer for the next read.
        """
        data = self.buffered()
        if data or wait <= 0:
            return data
        try:
            async with asyncio.timeout(wait) as deadline:
                return await self._resp.content.readany()
        except TimeoutError:
            if deadline.expired():
                return b""
            self.close()
            raise UpstreamTimeout("the upstream stream went silent (stream_idle_timeout)") from None
        except (aiohttp.ClientError, OSError) as e:
            self.close()
            raise UpstreamUnavailable(f"upstream stream broke: {_describe(e)}") from None

    async def read(self) -> bytes:
        # The request's aiohttp total timeout also covers reading the body.
        try:
            return await self._resp.read()
        except TimeoutError:
            self.close()
            raise UpstreamTimeout() from None
        except (aiohttp.ClientError, OSError) as e:
            self.close()
            raise UpstreamUnavailable(f"upstream connection failed while reading the response: {_describe(e)}") from None
        finally:
            self._resp.release()

    async def chunks(self) -> AsyncIterator[bytes]:
        content = self._resp.content
        try:
            if self._first:
                yield self._first
            while True:
                data = await content.readany()
                if not data:
                    return
                yield data
        except TimeoutError:  # aiohttp's sock_read: the stream_idle_timeout
            raise UpstreamTimeout("the upstream stream went silent (stream_idle_timeout)") from None
        except (aiohttp.ClientError, OSError) as e:
            raise UpstreamUnavailable(f"upstream stream broke: {_describe(e)}") from None
        finally:
            self.close()

    def close(self) -> None:
        self._resp.close()


class OpenAICompatProvider:
    """A deployment speaking the OpenAI wire format; azure differs only in URL and auth header."""

    passthrough = True

    def __init__(self, name: str, cfg: ProviderConfig, session: aiohttp.ClientSession) -> None:
        self.name = name
        self.kind = cfg.kind
        self.weight = cfg.weight
        self.max_retries = cfg.max_retries
        self._session = session
        self._timeouts = Timeouts(cfg)
        base = normalize_base_url(cfg.base_url or DEFAULT_BASE_URLS.get(cfg.kind, ""))
        self.base_url = base
        self._azure = cfg.kind == "azure"
        if self._azure:
            self._headers = {"api-key": reveal(cfg.api_key), "content-type": "application/json"}
            self._api_version = cfg.api_version or AZURE_API_VERSION
        else:
            self._headers = {"content-type": "application/json"}
            if cfg.api_key:
                self._headers["authorization"] = f"Bearer {cfg.api_key.reveal()}"
        self._urls = {ep: f"{base}/{ep.value}" for ep in Endpoint}
        self._azure_urls: dict[tuple[Endpoint, str], str] = {}
        #: Speaks /v1/responses itself (bytes pass through); otherwise the gateway translates to chat.
        self.responses = cfg.responses if cfg.responses is not None else cfg.kind in NATIVE_RESPONSES_KINDS
        if self._azure:
            # Azure serves Responses only on its v1 surface: no deployment segment, the deployment is `model`.
            for ep in (Endpoint.RESPONSES, Endpoint.RESPONSES_INPUT_TOKENS):
                self._urls[ep] = f"{base}/openai/v1/{ep.value}"

    def supports(self, endpoint: Endpoint) -> bool:
        return self.responses or endpoint not in (Endpoint.RESPONSES, Endpoint.RESPONSES_INPUT_TOKENS)

    def url(self, endpoint: Endpoint, model: str) -> str:
        if not self._azure or endpoint in (Endpoint.RESPONSES, Endpoint.RESPONSES_INPUT_TOKENS):
            return self._urls[endpoint]
        key = (endpoint, model)
        url = self._azure_urls.get(key)
        if url is None:
            url = f"{self.base_url}/openai/deployments/{quote(model, safe='')}/{endpoint.value}?api-version={self._api_version}"
            if len(self._azure_urls) < 1024:
                self._azure_urls[key] = url
        return url

    async def send(self, endpoint: Endpoint, body: bytes, model: str, stream: bool, *,
                   content_type: str | None = None) -> AiohttpUpstream:
        url = self.url(endpoint, model)
        headers = self._headers if content_type is None else {**self._headers, "content-type": content_type}
        body = body_payload(body)
        first = b""
        timeouts = self._timeouts
        try:
            if stream:
                resp, first = await timeouts.open_stream(
                    self._session.post(url, data=body, headers=headers, timeout=timeouts.stream))
            else:
                resp = await self._session.post(url, data=body, headers=headers, timeout=timeouts.unary)
        except TimeoutError:
            raise UpstreamTimeout() from None
        except (aiohttp.ClientError, OSError) as e:
            raise UpstreamUnavailable(f"cannot reach provider '{self.name}': {_describe(e)}") from None
        if resp.status >= 400:
            await _raise_for_status(resp, self.name)
        if stream and endpoint in SSE_ENDPOINTS:
            await check_stream_type(resp, self.name, "text/event-stream", first)
        return AiohttpUpstream(resp, first)

    async def close(self) -> None:
        """The session is shared and owned by the server; nothing to release here."""


async def _raise_for_status(resp: aiohttp.ClientResponse, provider: str) -> None:
    try:
        body = await resp.content.read(MAX_ERROR_BODY)
    except (aiohttp.ClientError, OSError, TimeoutError):
        body = b""
    finally:
        resp.close()
    raise UpstreamError(resp.status, body, provider=provider, retry_after=parse_retry_after(resp.headers.get("retry-after")),
                        content_type=resp.headers.get("content-type", "application/json"))


async def check_stream_type(resp: aiohttp.ClientResponse, provider: str, expected: str, first: bytes = b"") -> None:
    """A 2xx answer to a streaming request must be a stream: a JSON body or an HTML page is a 502 before
    anything reaches the client (and another deployment may serve the request)."""
    content_type = resp.headers.get("content-type", "")
    if content_type.partition(";")[0].strip().lower() == expected:
        return
    try:
        body = first + await resp.content.read(512)
    except (aiohttp.ClientError, OSError, TimeoutError):
        body = first
    finally:
        resp.close()
    snippet = body[:200].decode("utf-8", "replace").strip()
    raise UpstreamProtocolError(f"provider '{provider}' answered a streaming request with "
                                f"{content_type or 'no content-type'} instead of {expected}"
                                + (f": {snippet}" if snippet else ""))


def _describe(e: BaseException) -> str:
    text = str(e)
    return f"{type(e).__name__}: {text}" if text else type(e).__name__
