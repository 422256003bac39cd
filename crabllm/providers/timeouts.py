"""Per-provider timeouts: whole answer (`timeout`), a stream's first byte, and silence inside a stream."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

import aiohttp

from crabllm.config.schema import ProviderConfig
from crabllm.errors import UpstreamTimeout


class Timeouts:
    """Built once per provider at registry build time; nothing is allocated per request."""

    __slots__ = ("total", "first_byte", "idle", "unary", "stream")

    def __init__(self, cfg: ProviderConfig) -> None:
        self.total = cfg.timeout or None
        self.first_byte = cfg.first_byte_timeout or None
        self.idle = cfg.stream_idle_timeout or None
        self.unary = aiohttp.ClientTimeout(total=self.total)
        # aiohttp's sock_read restarts at every read: exactly "the longest silence between bytes".
        self.stream = aiohttp.ClientTimeout(total=None, sock_connect=self.total, sock_read=self.idle)

    async def open_stream(self, request: Awaitable[aiohttp.ClientResponse]) -> tuple[aiohttp.ClientResponse, bytes]:
        """Send a streaming request: (response, first body bytes if first_byte_timeout is set).

        `timeout` bounds the wait for the response headers; `first_byte_timeout` bounds the wait
        from sending the request to the first body byte, which is then read ahead so that a
        silent upstream is still a retryable 504 before anything was streamed to the client.
        """
        limit = self.first_byte or self.total
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            if limit:
                async with asyncio.timeout(limit):
                    resp = await request
            else:
                resp = await request
        except TimeoutError:
            raise UpstreamTimeout("the upstream did not answer in time" if not self.first_byte
                                  else f"no first byte within {self.first_byte:g} s") from None
        if self.first_byte is None or resp.status >= 400:
            return resp, b""
        try:
            async with asyncio.timeout(max(0.0, self.first_byte - (loop.time() - started))):
                first = await resp.content.readany()
        except TimeoutError:
            resp.close()
            raise UpstreamTimeout(f"no first byte within {self.first_byte:g} s") from None
        except (aiohttp.ClientError, OSError):
            return resp, b""  # the reader reports it on its first read
        return resp, first
