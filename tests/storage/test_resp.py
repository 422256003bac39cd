"""The pipelined Redis client: order under concurrency, one write per loop turn, and every way a
connection can fail (refused, stuck, dropped mid-command, garbage bytes), on real sockets."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest

from crabllm.errors import StorageUnavailable
from crabllm.storage.redis import RedisStorage
from crabllm.storage.resp import Address, RedisClient, RedisConnectionError, RedisReplyError, encode, parse_url

from .conftest import REDIS_URL, unique_namespace


class FakeRedis:
    """A loopback server that records the raw bytes of every read and answers via `reply(commands)`."""

    def __init__(self, reply: Callable[[list[bytes]], bytes | None]) -> None:
        self.reply = reply
        self.reads: list[bytes] = []
        self.connections = 0
        self.port = 0
        self._server: asyncio.Server | None = None
        self.writers: list[asyncio.StreamWriter] = []

    async def __aenter__(self) -> FakeRedis:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        for w in self.writers:
            w.close()
        self._server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.writers.append(writer)
        while data := await reader.read(65536):
            self.reads.append(data)
            out = self.reply(commands(data))
            if out is None:
                writer.close()
                return
            writer.write(out)

    def url(self, auth: str = "", db: int = 0) -> str:
        return f"redis://{auth}127.0.0.1:{self.port}/{db}"


def commands(data: bytes) -> list[bytes]:
    """The command names in a buffer of RESP arrays (enough for these tests' simple commands)."""
    parts = data.split(b"\r\n")
    return [parts[i + 2].upper() for i, p in enumerate(parts) if p.startswith(b"*") and i + 2 < len(parts)]


def ok(cmds: list[bytes]) -> bytes:
    return b"".join(b":1\r\n" if c == b"INCR" else b"+OK\r\n" for c in cmds)


@asynccontextmanager
async def real() -> AsyncIterator[RedisClient]:
    client = RedisClient(parse_url(REDIS_URL))
    try:
        yield client
    finally:
        await client.close()


def test_urls() -> None:
    assert parse_url("redis://127.0.0.1:6380/2") == Address(port=6380, db=2)
    a = parse_url("rediss://al%40ce:p%3Ass@cache.internal/0")
    assert (a.host, a.port, a.username, a.password, a.tls) == ("cache.internal", 6379, "al@ce", "p:ss", True)
    assert parse_url("redis://:secret@h:1").password == "secret" and parse_url("redis://:secret@h:1").username is None
    assert parse_url("unix:///run/redis.sock?db=4") == Address(path="/run/redis.sock", db=4)
    for bad, why in [("http://h:1", "scheme"), ("h:6379", "scheme"), ("redis://h/x", "not a number"),
                     ("redis://h:1/0?db=x", "not a number"), ("redis://:1", "no host"), ("unix://", "socket")]:
        with pytest.raises(ValueError, match=why):
            parse_url(bad)
    assert encode(("SET", "k", b"v\r\n", 12)) == b"*4\r\n$3\r\nSET\r\n$1\r\nk\r\n$3\r\nv\r\n\r\n$2\r\n12\r\n"


async def test_concurrent_commands_keep_their_order_and_share_writes(require_redis: None) -> None:
    key = unique_namespace() + "n"
    async with real() as client:
        await client.execute("PING")  # connected: the burst below is all pipelining
        values = await asyncio.gather(*[client.execute("INCR", key) for _ in range(500)])
        assert values == list(range(1, 501))  # each caller got its own reply, in order
        assert await client.execute("GET", key) == b"500"
        with pytest.raises(RedisReplyError, match="not an integer"):
            await client.execute("INCRBY", key, "x")
        assert await client.execute("DEL", key) == 1


async def test_a_loop_turn_of_commands_is_one_write() -> None:
    async with FakeRedis(ok) as fake:
        client = RedisClient(parse_url(fake.url()))
        await client.execute("PING")
        conn = client._conn
        assert conn is not None and conn._transport is not None
        transport, writes = conn._transport, []

        class Counting:
            def write(self, data: bytes) -> None:
                writes.append(data)
                transport.write(data)

            def close(self) -> None:
                transport.close()

        conn._transport = Counting()  # type: ignore[assignment]
        assert await asyncio.gather(*[client.execute("INCR", "k") for _ in range(100)]) == [1] * 100
        assert len(writes) == 1 and len(commands(writes[0])) == 100
        await client.close()


async def test_auth_and_select_come_first() -> None:
    async with FakeRedis(ok) as fake:
        client = RedisClient(parse_url(fake.url("bob:pw@", db=3)))
        await client.execute("PING")
        assert commands(b"".join(fake.reads)) == [b"AUTH", b"SELECT", b"PING"]
        assert b"$3\r\nbob\r\n$2\r\npw\r\n" in fake.reads[0]
        await client.close()


async def test_a_refused_auth_is_a_reply_error_and_nothing_is_sent() -> None:
    async with FakeRedis(lambda cmds: b"-WRONGPASS invalid password\r\n" * len(cmds)) as fake:
        client = RedisClient(parse_url(fake.url(":bad@")))
        with pytest.raises(RedisReplyError, match="WRONGPASS"):
            await client.execute("GET", "k")
        assert b"GET" not in b"".join(fake.reads)
        await client.close()


async def test_a_stuck_server_times_out_and_the_next_command_reconnects() -> None:
    stuck = True

    def reply(cmds: list[bytes]) -> bytes:
        return b"" if stuck else ok(cmds)

    async with FakeRedis(reply) as fake:
        client = RedisClient(parse_url(fake.url()), timeout=0.3)
        loop = asyncio.get_running_loop()
        began = loop.time()
        results = await asyncio.gather(*[client.execute("SET", "k", "v") for _ in range(3)], return_exceptions=True)
        assert all(isinstance(r, RedisConnectionError) and "0.3 s" in str(r) for r in results)
        assert 0.25 < loop.time() - began < 2
        stuck = False
        assert await client.execute("SET", "k", "v") == b"OK" and fake.connections == 2
        await client.close()


async def test_a_dropped_connection_fails_what_was_written_and_never_resends_it() -> None:
    async with FakeRedis(lambda cmds: None if b"INCR" in cmds else ok(cmds)) as fake:
        client = RedisClient(parse_url(fake.url()))
        with pytest.raises(RedisConnectionError, match="closed"):
            await client.execute("INCR", "k")
        assert sum(commands(r).count(b"INCR") for r in fake.reads) == 1  # an increment never counts twice
        assert await client.execute("SET", "k", "v") == b"OK"  # and the client carries on, reconnected
        await client.close()


async def test_garbage_from_the_server_closes_the_connection() -> None:
    async with FakeRedis(lambda cmds: b"HTTP/1.1 400 Bad Request\r\n\r\n") as fake:
        client = RedisClient(parse_url(fake.url()))
        with pytest.raises(RedisConnectionError, match="not RESP"):
            await client.execute("GET", "k")
        await client.close()


async def test_a_cancelled_caller_does_not_shift_the_replies(require_redis: None) -> None:
    key = unique_namespace() + "k"
    async with real() as client:
        await client.execute("SET", key, "v")
        slow = asyncio.ensure_future(client.execute("DEBUG", "SLEEP", "0.2"))
        after = asyncio.ensure_future(client.execute("GET", key))
        await asyncio.sleep(0.05)
        slow.cancel()
        assert await after == b"v"
        assert await client.execute("DEL", key) == 1


async def test_unreachable_is_storage_unavailable_and_the_password_stays_hidden() -> None:
    storage = RedisStorage("redis://:s3cret@127.0.0.1:1/0", timeout=1)
    with pytest.raises(StorageUnavailable, match="127.0.0.1:1") as info:
        await storage.set("k", b"v")
    assert "s3cret" not in str(info.value)
    await storage.close()


async def test_scripts_are_loaded_again_after_a_flush(require_redis: None) -> None:
    storage = RedisStorage(REDIS_URL, namespace=unique_namespace())
    try:
        assert await storage.incr("c", 2) == 2
        await storage._client.execute("SCRIPT", "FLUSH")  # a restarted or failed-over Redis forgets scripts
        assert await storage.incr_many([("c", 3, None), ("d", 1, 10.0)]) == [5, 1]
    finally:
        await storage.delete_prefix("")
        await storage.close()


async def test_a_server_side_kill_is_survived(require_redis: None) -> None:
    storage = RedisStorage(REDIS_URL, namespace=unique_namespace())
    try:
        await storage.set("k", b"v")
        own = await storage._client.execute("CLIENT", "ID")
        async with real() as other:
            assert await other.execute("CLIENT", "KILL", "ID", own) == 1
        await asyncio.sleep(0.05)
        assert await storage.get("k") == b"v"  # the dead connection was noticed and replaced
    finally:
        await storage.delete_prefix("")
        await storage.close()
