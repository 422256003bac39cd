"""The storage contract: every backend (memory, sqlite, redis) must pass every test here."""

from __future__ import annotations

import asyncio

import pytest

from crabllm.errors import ServerError
from crabllm.storage import Storage

TTL = 0.2
PAST_TTL = 0.3


async def test_is_a_storage(storage: Storage) -> None:
    assert isinstance(storage, Storage)
    await storage.ping()


async def test_get_missing_is_none(storage: Storage) -> None:
    assert await storage.get("nothing:here") is None


async def test_set_get_overwrite(storage: Storage) -> None:
    await storage.set("k:1", b"first")
    assert await storage.get("k:1") == b"first"
    await storage.set("k:1", b"second")
    assert await storage.get("k:1") == b"second"
    await storage.set("k:bin", b"\x00\xff\x80 binary")
    assert await storage.get("k:bin") == b"\x00\xff\x80 binary"
    await storage.set("k:empty", b"")
    assert await storage.get("k:empty") == b""
    await storage.set("k:ünï中", b"text key")
    assert await storage.get("k:ünï中") == b"text key"


async def test_ttl_expiry(storage: Storage) -> None:
    await storage.set("t:set", b"v", ttl=TTL)
    await storage.set("t:forever", b"v")
    await storage.set("t:cleared", b"v", ttl=TTL)
    await storage.set("t:cleared", b"w")  # a plain set drops the earlier expiry
    assert await storage.add("t:add", b"v", ttl=TTL)
    assert await storage.incr("t:incr", 3, ttl=TTL) == 3
    assert await storage.get("t:set") == b"v"
    assert [k for k, _ in await storage.list("t:")] == ["t:add", "t:cleared", "t:forever", "t:incr", "t:set"]

    await asyncio.sleep(PAST_TTL)

    assert await storage.get("t:set") is None
    assert await storage.get("t:add") is None
    assert await storage.get("t:incr") is None
    assert await storage.get("t:forever") == b"v"
    assert await storage.get("t:cleared") == b"w"
    assert await storage.list("t:") == [("t:cleared", b"w"), ("t:forever", b"v")]
    assert await storage.delete("t:set") is False
    assert await storage.add("t:add", b"again")  # an expired entry counts as absent
    assert await storage.get("t:add") == b"again"
    assert await storage.incr("t:incr") == 1  # an expired counter restarts from 0
    assert await storage.delete_prefix("t:") == 4


async def test_add_only_when_absent(storage: Storage) -> None:
    assert await storage.add("a:1", b"first") is True
    assert await storage.add("a:1", b"second") is False
    assert await storage.get("a:1") == b"first"
    await storage.delete("a:1")
    assert await storage.add("a:1", b"third") is True
    assert await storage.get("a:1") == b"third"


async def test_add_is_atomic(storage: Storage) -> None:
    results = await asyncio.gather(*(storage.add("a:race", str(i).encode()) for i in range(50)))
    assert results.count(True) == 1
    winner = results.index(True)
    assert await storage.get("a:race") == str(winner).encode()


async def test_incr_creates_at_zero(storage: Storage) -> None:
    assert await storage.incr("c:1") == 1
    assert await storage.incr("c:1", 5) == 6
    assert await storage.incr("c:1", -10) == -4
    assert await storage.incr("c:1", 0) == -4
    assert await storage.get("c:1") == b"-4"
    assert await storage.incr("c:zero", 0) == 0
    assert await storage.get("c:zero") == b"0"


async def test_counter_reads_as_decimal_bytes(storage: Storage) -> None:
    await storage.incr("c:n", 42)
    assert await storage.get("c:n") == b"42"
    assert await storage.list("c:") == [("c:n", b"42")]


async def test_incr_is_atomic(storage: Storage) -> None:
    results = await asyncio.gather(*(storage.incr("c:race") for _ in range(200)))
    assert sorted(results) == list(range(1, 201))
    assert await storage.get("c:race") == b"200"


async def test_incr_ttl_applied_only_on_create(storage: Storage) -> None:
    assert await storage.incr("w:1", ttl=PAST_TTL) == 1
    await asyncio.sleep(0.2)
    assert await storage.incr("w:1", ttl=PAST_TTL) == 2  # must not extend the window
    await asyncio.sleep(0.2)
    assert await storage.get("w:1") is None
    assert await storage.incr("w:1", ttl=PAST_TTL) == 1


async def test_incr_counts_on_a_decimal_value(storage: Storage) -> None:
    await storage.set("c:set", b"41")
    assert await storage.incr("c:set") == 42
    assert await storage.get("c:set") == b"42"


async def test_incr_accepts_the_int64_range(storage: Storage) -> None:
    await storage.set("c:max", b"9223372036854775807")
    assert await storage.incr("c:max", -1) == 2**63 - 2
    await storage.set("c:min", b"-9223372036854775808")
    assert await storage.incr("c:min", 1) == -(2**63) + 1


NOT_INTEGERS = [b"abc", b"1.5", b"05", b"-0", b" 5", b"+5", b"", b"9223372036854775808", b"99999999999999999999"]


@pytest.mark.parametrize("value", NOT_INTEGERS)
async def test_incr_on_a_non_integer_fails_and_changes_nothing(storage: Storage, value: bytes) -> None:
    await storage.set("c:text", value)
    with pytest.raises(ServerError, match="c:text"):
        await storage.incr("c:text")
    assert await storage.get("c:text") == value
    with pytest.raises(ServerError, match="c:text"):
        await storage.incr_many([("c:ok", 1, None), ("c:text", 1, None)])
    assert await storage.get("c:ok") is None  # all or nothing
    assert await storage.get("c:text") == value


async def test_incr_many(storage: Storage) -> None:
    assert await storage.incr_many([]) == []
    await storage.incr("u:a", 10)
    results = await storage.incr_many([("u:a", 1, None), ("u:b", 2, None), ("u:a", 3, None)])
    assert results == [11, 2, 14]  # the value after each item, in order
    assert await storage.get("u:a") == b"14"
    assert await storage.get("u:b") == b"2"


async def test_incr_many_ttl_only_on_created_keys(storage: Storage) -> None:
    await storage.incr("m:old", 5)
    assert await storage.incr_many([("m:old", 1, TTL), ("m:new", 1, TTL), ("m:keep", 1, None)]) == [6, 1, 1]
    await asyncio.sleep(PAST_TTL)
    assert await storage.get("m:old") == b"6"
    assert await storage.get("m:new") is None
    assert await storage.get("m:keep") == b"1"


async def test_incr_many_is_atomic_together(storage: Storage) -> None:
    batches = await asyncio.gather(
        *(storage.incr_many([("p:x", 1, None), ("p:y", 2, None)]) for _ in range(50))
    )
    # No other batch can slip between the two increments of one batch.
    assert all(y == 2 * x for x, y in batches)
    assert sorted(x for x, _ in batches) == list(range(1, 51))
    assert await storage.get("p:y") == b"100"


async def test_list_by_prefix_sorted_with_limit(storage: Storage) -> None:
    for key in ["p:b", "p:a", "p:中", "p:é", "p:c", "q:a", "p", "pa", "o:z"]:
        await storage.set(key, key.encode())
    await storage.incr("p:count", 7)
    expected = [("p:a", b"p:a"), ("p:b", b"p:b"), ("p:c", b"p:c"), ("p:count", b"7"),
                ("p:é", "p:é".encode()), ("p:中", "p:中".encode())]
    assert await storage.list("p:") == expected
    assert await storage.list("p:", limit=2) == expected[:2]
    assert await storage.list("p:", limit=100) == expected
    assert await storage.list("p:", limit=0) == []
    assert await storage.list("none:") == []
    assert [k for k, _ in await storage.list("")] == sorted(
        ["p:b", "p:a", "p:中", "p:é", "p:c", "q:a", "p", "pa", "o:z", "p:count"]
    )


async def test_list_treats_prefix_literally(storage: Storage) -> None:
    keys = ["g*:1", "g?:1", "g[x]:1", "gx:1", "g\\:1", "g%:1", "g_:1", "gab"]
    for key in keys:
        await storage.set(key, b"v")
    for key in keys:
        prefix = key[:-1] if key != "gab" else "gab"
        assert [k for k, _ in await storage.list(prefix)] == [key], prefix


async def test_list_many_keys(storage: Storage) -> None:
    keys = [f"bulk:{i:05d}" for i in range(1100)]
    await storage.incr_many([(k, 1, None) for k in keys])
    await storage.set("bulkier", b"v")
    listed = await storage.list("bulk:")
    assert [k for k, _ in listed] == keys
    assert {v for _, v in listed} == {b"1"}
    assert [k for k, _ in await storage.list("bulk:", limit=1050)] == keys[:1050]
    assert await storage.delete_prefix("bulk:") == 1100
    assert await storage.list("bulk") == [("bulkier", b"v")]


async def test_delete(storage: Storage) -> None:
    await storage.set("d:1", b"v")
    await storage.incr("d:2")
    assert await storage.delete("d:1") is True
    assert await storage.delete("d:1") is False
    assert await storage.get("d:1") is None
    assert await storage.delete("d:2") is True
    assert await storage.get("d:2") is None
    assert await storage.delete("d:never") is False


async def test_delete_prefix(storage: Storage) -> None:
    for key in ["x:1", "x:2", "x:3", "xy", "y:1", "x*1"]:
        await storage.set(key, b"v")
    await storage.incr("x:c")
    assert await storage.delete_prefix("x:") == 4
    assert await storage.list("x:") == []
    assert [k for k, _ in await storage.list("")] == ["x*1", "xy", "y:1"]
    assert await storage.delete_prefix("x*") == 1
    assert await storage.delete_prefix("nothing:") == 0


async def test_close_is_idempotent(storage: Storage) -> None:
    await storage.close()
    await storage.close()
