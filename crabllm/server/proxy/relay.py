"""A committed response stream (SSE or binary): disconnect watch, keep-alive, in-band failure, usage."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Protocol

from crabllm.routing.breaker import deployment_id
from crabllm.errors import CrabError
from crabllm.providers.base import Upstream
from crabllm.server.http import Exchange, Headers
from crabllm.server.runtime import Gateway


class StreamRelay(Protocol):
    """Turns upstream bytes into client bytes; `usage` is (prompt, completion) once known.

    A failure found inside fed bytes is kept in `error` and raised once the bytes before it are sent.
    """

    last_write: float
    usage: tuple[int, int] | None
    error: CrabError | None

    def feed(self, data: bytes) -> bytes: ...

    def finish(self) -> bytes: ...

    def fail(self, error: CrabError) -> bytes:
        """The bytes that tell the client the stream broke (for SSE: error events)."""
        ...


class BytesRelay:
    """Forwards bytes untouched (audio); a failure can only cut the response short."""

    __slots__ = ("last_write", "usage", "error")

    def __init__(self) -> None:
        self.last_write = 0.0
        self.usage: tuple[int, int] | None = None
        self.error: CrabError | None = None

    def feed(self, data: bytes) -> bytes:
        return data

    def finish(self) -> bytes:
        return b""

    def fail(self, error: CrabError) -> bytes:
        return b""


#: How long a stream's first bytes are awaited before the 200 is sent. Garbage comes at once; a
#: slow first token is committed after this and waited for with keep-alives, as before.
PRIME_WAIT = 1.0


async def prime(upstream: Upstream, relay: StreamRelay) -> bytes:
    """Feed `relay` the upstream's first bytes before the stream is committed.

    Called inside the dispatch attempt: when those first bytes are already malformed and nothing
    good came before them, the error is raised here, so the client gets a 502 in the route's
    envelope (or another deployment serves the request) instead of a 200 and a broken stream.
    Bytes that take longer than PRIME_WAIT are checked in-band. Returns what to send first.
    """
    peek = getattr(upstream, "peek", None)
    data = await peek(PRIME_WAIT) if peek is not None else b""
    if not data:
        return b""
    out = relay.feed(data)
    if relay.error is not None:
        events = getattr(relay, "events", None)  # comments and junk lines before the error are not an answer
        if not out if events is None else events == 0:
            upstream.close()
            raise relay.error
    return out


async def relay_stream(gw: Gateway, ex: Exchange, upstream: Upstream, relay: StreamRelay, headers: Headers, *,
                       keepalive: bool = True, first: bytes = b"") -> None:
    """Send 200 with `headers`, then `first` (from `prime`) and the relayed body; from here on failures
    are reported in-band."""
    send = ex.send
    task = asyncio.current_task()
    gone = False

    async def watch_disconnect() -> None:
        nonlocal gone
        while (await ex.receive())["type"] != "http.disconnect":
            pass
        gone = True
        if task is not None:
            task.cancel()

    loop = asyncio.get_running_loop()
    watcher = loop.create_task(watch_disconnect())
    streams = gw.streams
    ex.status = 200
    ex.response_started = True
    tail = b""
    cut = False
    try:
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        if keepalive:
            streams.add(relay, send)  # type: ignore[arg-type]
        if first:
            relay.last_write = loop.time()
            await send({"type": "http.response.body", "body": first, "more_body": True})
        if relay.error is not None:
            raise relay.error
        async for data in upstream.chunks():
            out = relay.feed(data)
            if out:
                relay.last_write = loop.time()
                await send({"type": "http.response.body", "body": out, "more_body": True})
            if relay.error is not None:
                raise relay.error
        tail = relay.finish()
        if relay.error is not None:  # the end showed the stream was incomplete or empty
            if tail:
                await send({"type": "http.response.body", "body": tail, "more_body": True})
            raise relay.error
    except CrabError as e:
        ex.error = e.message
        if ex.provider:
            gw.breaker.failure(deployment_id(ex.provider, ex.model), e.message)  # a broken stream is a failed attempt too
        tail = relay.fail(e)
        cut = not tail
    except asyncio.CancelledError:
        if not gone:
            raise
        if task is not None:
            task.uncancel()
        ex.status = 499
        ex.error = "client disconnected"
        return
    finally:
        if keepalive:
            streams.discard(relay)  # type: ignore[arg-type]
        gw.loads.release(deployment_id(ex.provider, ex.model))  # every streaming dispatch holds its deployment
        watcher.cancel()
        upstream.close()
        if relay.usage is not None:
            ex.prompt_tokens, ex.completion_tokens = relay.usage
    if cut:
        # A binary body cannot say "broken": leaving the response incomplete makes the server drop
        # the connection without the final chunk, so the client sees a truncated transfer.
        return
    if ex.finishing is not None:
        await ex.finish_work()
    with contextlib.suppress(OSError):
        await send({"type": "http.response.body", "body": tail, "more_body": False})


#: An SSE answer must reach the client as it is made: no proxy cache, no nginx buffering.
SSE_HEADERS = [(b"cache-control", b"no-cache"), (b"x-accel-buffering", b"no")]


async def relay_sse(gw: Gateway, ex: Exchange, primed: tuple[Upstream, StreamRelay, bytes]) -> None:
    """Commit a primed SSE stream (`prime`'s attempt result): 200 with the SSE headers, then the events."""
    upstream, relay, first = primed
    headers = ex.base_headers(b"text/event-stream")
    headers.extend(SSE_HEADERS)
    await relay_stream(gw, ex, upstream, relay, headers, first=first)
