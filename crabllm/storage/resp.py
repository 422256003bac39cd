"""A small asyncio Redis client: one connection, automatic pipelining, replies parsed by hiredis.

Every command issued during one turn of the event loop leaves in a single write, and the replies
come back in order on the same connection, so a hundred concurrent requests that each need a
counter cost Redis one read and the gateway one write and one parse, not a hundred round trips
through a connection pool. Redis runs commands one at a time anyway: one connection loses nothing.

A command that was never written (the connection was down) is sent again on a fresh connection
once; a command that was written when the connection broke is never resent (an INCRBY must not
count twice) and fails with RedisConnectionError. A reply slower than `timeout` closes the
connection: every command waiting on it fails, and the next command reconnects.
"""

from __future__ import annotations

import asyncio
import collections
import ssl
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import hiredis

Arg = bytes | str | int


class RedisReplyError(Exception):
    """Redis answered the command with an error reply (`-ERR …`)."""


class RedisConnectionError(Exception):
    """No connection, or it broke (or timed out) before the reply came."""


class _NotSent(RedisConnectionError):
    """The connection closed before this command was written: safe to send again."""


@dataclass(frozen=True)
class Address:
    """Where and how to connect, from a redis://, rediss:// or unix:// URL."""

    host: str = "127.0.0.1"
    port: int = 6379
    path: str | None = None  # a unix socket
    db: int = 0
    username: str | None = None
    password: str | None = None
    tls: bool = False


def parse_url(url: str) -> Address:
    """redis://[[user]:password@]host[:port][/db], rediss://… (TLS), unix:///socket[?db=N]; ValueError otherwise."""
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    port = parts.port  # raises ValueError for a bad port
    db_text = query.get("db", [""])[-1] or (parts.path.strip("/") if parts.scheme != "unix" else "")
    if db_text and not db_text.isdigit():
        raise ValueError(f"database '{db_text}' is not a number")
    db = int(db_text or 0)
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    if parts.scheme == "unix":
        if not parts.path:
            raise ValueError("no socket path")
        return Address(path=parts.path, db=db, username=username, password=password)
    if parts.scheme not in ("redis", "rediss"):
        raise ValueError(f"scheme '{parts.scheme}' is not redis, rediss or unix" if parts.scheme else "no scheme")
    if not parts.hostname:
        raise ValueError("no host")
    if port == 0:
        raise ValueError("port 0")
    return Address(host=parts.hostname, port=port or 6379, db=db, username=username, password=password,
                   tls=parts.scheme == "rediss")


def encode(args: tuple[Arg, ...]) -> bytes:
    """One command in RESP: an array of bulk strings."""
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        if isinstance(arg, str):
            arg = arg.encode("utf-8", "surrogateescape")
        elif isinstance(arg, int):
            arg = b"%d" % arg
        out.append(b"$%d\r\n%s\r\n" % (len(arg), arg))
    return b"".join(out)


class _Connection(asyncio.Protocol):
    """One socket: buffers the commands of a loop turn into one write, resolves replies in order."""

    def __init__(self, loop: asyncio.AbstractEventLoop, timeout: float) -> None:
        self._loop = loop
        self._timeout = timeout
        self._reader = hiredis.Reader(replyError=RedisReplyError)
        self._transport: asyncio.Transport | None = None
        self._waiting: collections.deque[tuple[asyncio.Future[Any], float]] = collections.deque()
        self._out: list[bytes] = []
        self._flush_soon = False
        self._watchdog: asyncio.TimerHandle | None = None
        self.closed = False
        self.reason = "the connection closed"

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        reader = self._reader
        reader.feed(data)
        waiting = self._waiting
        try:
            reply = reader.gets()
            while reply is not False:
                if not waiting:
                    self.close("a reply came for no command")
                    return
                future = waiting.popleft()[0]
                if not future.done():  # a cancelled caller: its reply is read and dropped
                    if isinstance(reply, RedisReplyError):
                        future.set_exception(reply)
                    else:
                        future.set_result(reply)
                reply = reader.gets()
        except hiredis.ProtocolError as exc:
            self.close(f"the server sent bytes that are not RESP: {exc}")

    def connection_lost(self, exc: Exception | None) -> None:
        self.close(f"the connection was lost: {exc}" if exc else "the server closed the connection")

    # client side
    def send(self, payload: bytes) -> asyncio.Future[Any]:
        future = self._loop.create_future()
        self._waiting.append((future, self._loop.time()))
        self._out.append(payload)
        if not self._flush_soon:
            self._flush_soon = True
            self._loop.call_soon(self._flush)
        if self._watchdog is None:
            self._watchdog = self._loop.call_later(self._timeout, self._watch)
        return future

    def _flush(self) -> None:
        self._flush_soon = False
        if self._out and self._transport is not None and not self.closed:
            data = self._out[0] if len(self._out) == 1 else b"".join(self._out)
            self._out.clear()
            self._transport.write(data)

    def _watch(self) -> None:
        """A reply older than the timeout means the server or the network is stuck: give up on them all."""
        self._watchdog = None
        if not self._waiting or self.closed:
            return
        age = self._loop.time() - self._waiting[0][1]
        if age >= self._timeout:
            self.close(f"no reply within {self._timeout:g} s")
        else:
            self._watchdog = self._loop.call_later(self._timeout - age, self._watch)

    def close(self, reason: str) -> None:
        if not self.closed:
            self.closed = True
            self.reason = reason
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        if self._transport is not None:
            self._transport.close()
        waiting, self._waiting = self._waiting, collections.deque()
        written = len(waiting) - len(self._out)  # the newest commands may still sit in the buffer
        for i, (future, _) in enumerate(waiting):
            if not future.done():
                future.set_exception((RedisConnectionError if i < written else _NotSent)(self.reason))
        self._out.clear()


class RedisClient:
    """Commands over one lazily opened, automatically pipelined connection (reopened after a failure)."""

    def __init__(self, address: Address, timeout: float = 5.0) -> None:
        self.address = address
        self.timeout = timeout
        self._conn: _Connection | None = None
        self._connecting: asyncio.Future[_Connection] | None = None

    async def execute(self, *args: Arg) -> Any:
        """Send one command, return its reply; RedisReplyError or RedisConnectionError on failure."""
        payload = encode(args)
        for attempt in (0, 1):
            conn = self._conn
            if conn is None or conn.closed:
                conn = await self._connection()
            try:
                return await conn.send(payload)
            except _NotSent:
                if attempt:
                    raise
        raise AssertionError("unreachable")

    async def _connection(self) -> _Connection:
        """The open connection, opening it once however many commands wait for it."""
        if self._connecting is None:
            loop = asyncio.get_running_loop()
            self._connecting = loop.create_future()
            try:
                conn = await self._open(loop)
            except BaseException as exc:
                waiter, self._connecting = self._connecting, None
                waiter.set_exception(exc if isinstance(exc, Exception) else RedisConnectionError("cancelled"))
                waiter.exception()  # retrieved: no "never retrieved" warning when nobody else waited
                raise
            self._conn = conn
            waiter, self._connecting = self._connecting, None
            waiter.set_result(conn)
            return conn
        return await asyncio.shield(self._connecting)

    async def _open(self, loop: asyncio.AbstractEventLoop) -> _Connection:
        a = self.address
        conn = _Connection(loop, self.timeout)
        try:
            if a.path is not None:
                coro = loop.create_unix_connection(lambda: conn, a.path)
            else:
                tls = ssl.create_default_context() if a.tls else None
                coro = loop.create_connection(lambda: conn, a.host, a.port, ssl=tls)
            await asyncio.wait_for(coro, self.timeout)
        except (OSError, TimeoutError, ssl.SSLError) as exc:
            raise RedisConnectionError(f"cannot connect: {exc or type(exc).__name__}") from None
        hello: list[tuple[Arg, ...]] = []
        if a.password:
            hello.append(("AUTH", a.username, a.password) if a.username else ("AUTH", a.password))
        if a.db:
            hello.append(("SELECT", a.db))
        try:
            for command in hello:
                await conn.send(encode(command))  # type: ignore[arg-type]
        except BaseException:
            conn.close("setup failed")
            raise
        return conn

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close("the client closed")
