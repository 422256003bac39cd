"""HTTP plumbing shared by the translating providers: a timed POST, error envelopes, translated upstreams."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, Protocol

import aiohttp
import msgspec
from yarl import URL

from crabllm.errors import CrabError, InvalidRequest, UpstreamError, UpstreamProtocolError, UpstreamTimeout, UpstreamUnavailable
from crabllm.providers.base import parse_retry_after
from crabllm.providers.timeouts import Timeouts
from crabllm.providers.openai import MAX_ERROR_BODY, AiohttpUpstream, check_stream_type
from crabllm.providers.payload import body_payload

DONE = b"data: [DONE]\n\n"
#: OpenAI-style error types by upstream status, for upstreams whose envelope has none.
STATUS_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
                404: "not_found_error", 408: "timeout_error", 409: "invalid_request_error",
                413: "invalid_request_error", 422: "invalid_request_error", 429: "rate_limit_error"}

_enc = msgspec.json.Encoder()

#: (status, body, response headers) -> the error to raise for an upstream error status.
ErrorMapper = Callable[[int, bytes, Mapping[str, str]], UpstreamError]


def status_type(status: int) -> str:
    return STATUS_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")


def openai_error(status: int, message: str, *, provider: str, type_: str | None = None, code: str | None = None,
                 retry_after: float | None = None) -> UpstreamError:
    """An UpstreamError whose body is the OpenAI envelope (what OpenAI clients of the gateway read)."""
    body = _enc.encode({"error": {"message": message, "type": type_ or status_type(status), "param": None, "code": code}})
    return UpstreamError(status, body, provider=provider, retry_after=retry_after)


def decode_json(raw: bytes, what: str) -> Any:
    """Parse an upstream 2xx body; a body that is not JSON is the upstream's fault (502, not retried)."""
    try:
        return msgspec.json.decode(raw)
    except (msgspec.DecodeError, RecursionError):
        raise UpstreamProtocolError(f"{what} returned a response that is not valid JSON") from None


def decode_request(body: bytes) -> dict[str, Any]:
    """The OpenAI chat request a translating provider must convert; 400 when it is not a JSON object."""
    try:
        req = msgspec.json.decode(body)
    except (msgspec.DecodeError, RecursionError) as e:
        raise InvalidRequest(f"request body is not valid JSON: {e}") from None
    if not isinstance(req, dict):
        raise InvalidRequest("request body must be a JSON object")
    return req


def sse_chunks(chunks: list[dict[str, Any]]) -> bytes:
    """OpenAI SSE bytes for translated chunks."""
    return b"".join(b"data: " + _enc.encode(c) + b"\n\n" for c in chunks)


def encode(obj: Any) -> bytes:
    return _enc.encode(obj)


def encode_request(obj: Any) -> bytes:
    """A translated request body; one nested past the encoder's depth limit is the client's 400."""
    try:
        return _enc.encode(obj)
    except RecursionError:
        # A translation wraps client values a few levels deeper than the client sent them.
        raise InvalidRequest("request body is nested too deeply to translate") from None


class Poster:
    """POSTs for one provider with its timeout rules: the whole answer, or only the headers of a stream."""

    def __init__(self, session: aiohttp.ClientSession, provider: str, timeouts: Timeouts, error: ErrorMapper, *,
                 stream_type: str = "text/event-stream") -> None:
        self._session = session
        self._provider = provider
        self._timeouts = timeouts
        self._error = error
        self._stream_type = stream_type  # what a 2xx answer to a streaming request must be

    async def post(self, url: str | URL, body: bytes, headers: Mapping[str, str], stream: bool) -> AiohttpUpstream:
        session = self._session
        data = body_payload(body)
        timeouts = self._timeouts
        first = b""
        try:
            if stream:
                resp, first = await timeouts.open_stream(session.post(url, data=data, headers=headers,
                                                                      timeout=timeouts.stream))
            else:
                resp = await session.post(url, data=data, headers=headers, timeout=timeouts.unary)
        except TimeoutError:
            raise UpstreamTimeout() from None
        except (aiohttp.ClientError, OSError) as e:
            raise UpstreamUnavailable(f"cannot reach provider '{self._provider}': {describe(e)}") from None
        if resp.status >= 400:
            try:
                raw = await resp.content.read(MAX_ERROR_BODY)
            except (aiohttp.ClientError, OSError, TimeoutError):
                raw = b""
            finally:
                resp.close()
            error = self._error(resp.status, raw, resp.headers)
            if error.retry_after is None:
                error.retry_after = parse_retry_after(resp.headers.get("retry-after"))
            raise error
        if stream:
            await check_stream_type(resp, self._provider, self._stream_type, first)
        return AiohttpUpstream(resp, first)


class StreamTranslator(Protocol):
    """Upstream stream bytes in any split → OpenAI SSE bytes (without the final [DONE]).

    A failure found inside `data` is kept in `error` (raised after the chunks before it are
    delivered), so a client never loses text that arrived in the same read as the error.
    """

    error: CrabError | None

    def feed(self, data: bytes) -> bytes: ...

    def finish(self) -> bytes:
        """What is still owed at the upstream's end; sets `error` when the stream was cut short."""
        ...


class TranslatedUpstream:
    """A 2xx upstream answer in a foreign shape, exposed in the OpenAI shape the gateway speaks."""

    __slots__ = ("_raw", "_convert", "_stream", "status", "content_type")

    def __init__(self, raw: AiohttpUpstream, *, convert: Callable[[bytes], bytes] | None = None,
                 stream: StreamTranslator | None = None) -> None:
        self._raw = raw
        self._convert = convert
        self._stream = stream
        self.status = raw.status
        self.content_type = "text/event-stream" if stream is not None else "application/json"

    async def peek(self, wait: float) -> bytes:
        """The translation of the first body bytes (see AiohttpUpstream.peek); an error in them is raised
        at once when nothing before it could be translated (so it is still a 502 that may fall over)."""
        translator = self._stream
        if translator is None:
            return b""
        data = await self._raw.peek(wait)
        if not data:
            return b""
        out = translator.feed(data)
        if translator.error is not None and not out:
            self._raw.close()
            raise translator.error
        return out

    async def read(self) -> bytes:
        raw = await self._raw.read()
        if self._convert is None:
            return raw
        try:
            return self._convert(raw)
        except SHAPE_ERRORS as e:
            raise untranslatable(e) from None

    async def chunks(self) -> AsyncIterator[bytes]:
        translator = self._stream
        if translator is None:
            raise UpstreamProtocolError("this upstream answer is not a stream")
        try:
            if translator.error is not None:  # found by `peek`, after output that went first
                raise translator.error
            async for data in self._raw.chunks():
                out = translator.feed(data)
                if out:
                    yield out
                if translator.error is not None:
                    raise translator.error
            tail = translator.finish()
        except CrabError:
            salvage = getattr(translator, "salvage", None)
            usage = salvage() if salvage is not None else b""
            if usage:
                yield usage  # the tokens seen before the failure are still booked
            raise
        finally:
            self._raw.close()
        if translator.error is not None:
            if tail:
                yield tail
            raise translator.error
        yield tail + DONE

    def close(self) -> None:
        self._raw.close()


class EventTranslator:
    """Base of the stream translators: decoded events in, chunks out, the first failure kept."""

    error: CrabError | None = None

    def _collect(self, events: list[Any]) -> bytes:
        chunks: list[dict[str, Any]] = []
        try:
            for event in events:
                chunks.extend(self._chunks(event))
        except CrabError as e:
            self.error = e
        except SHAPE_ERRORS as e:
            self.error = untranslatable(e)
        return sse_chunks(chunks) if chunks else b""

    def _chunks(self, event: Any) -> list[dict[str, Any]]:
        raise NotImplementedError

    def salvage(self) -> bytes:
        """After a failure: the usage chunk for what the upstream reported so far (if anything)."""
        tr = getattr(self, "_tr", None)
        return sse_chunks(tr.finish()) if tr is not None else b""


#: What a translator raises when a 2xx body has an unexpected shape (a string where an object belongs…).
SHAPE_ERRORS = (TypeError, AttributeError, KeyError, IndexError, ValueError)


def untranslatable(e: Exception) -> UpstreamProtocolError:
    return UpstreamProtocolError(f"the upstream answer has an unexpected shape and cannot be translated: {describe(e)}")


def describe(e: BaseException) -> str:
    text = str(e)
    return f"{type(e).__name__}: {text}" if text else type(e).__name__
