"""OpenAI-wire upstreams (openai, ollama, azure, any custom OpenAI-compatible kind): bytes pass through."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import quote

import aiohttp

from crabllm.config.schema import ProviderConfig
from crabllm.errors import UpstreamError, UpstreamTimeout, UpstreamUnavailable
from crabllm.providers.base import Endpoint, parse_retry_after
from crabllm.providers.timeouts import Timeouts
from crabllm.providers.payload import body_payload

DEFAULT_BASE_URLS = {"openai": "https://api.openai.com/v1", "ollama": "http://localhost:11434/v1"}
AZURE_API_VERSION = "2024-10-21"
_ENDPOINT_SUFFIXES = ("/chat/completions", "/embeddings", "/audio/transcriptions", "/audio/speech",
                      "/images/generations", "/models")
MAX_ERROR_BODY = 64 * 1024


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
            self._headers = {"api-key": cfg.api_key or "", "content-type": "application/json"}
            self._api_version = cfg.api_version or AZURE_API_VERSION
        else:
            self._headers = {"content-type": "application/json"}
            if cfg.api_key:
                self._headers["authorization"] = f"Bearer {cfg.api_key}"
        self._urls = {ep: f"{base}/{ep.value}" for ep in Endpoint}
        self._azure_urls: dict[tuple[Endpoint, str], str] = {}

    def supports(self, endpoint: Endpoint) -> bool:
        return True

    def url(self, endpoint: Endpoint, model: str) -> str:
        if not self._azure:
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


def _describe(e: BaseException) -> str:
    text = str(e)
    return f"{type(e).__name__}: {text}" if text else type(e).__name__
