"""Child process for the sqlite multi-process tests: wait for "go", hammer one file, print JSON."""

from __future__ import annotations

import asyncio
import json
import sys

from crabllm.storage.sqlite import SqliteStorage


async def run(path: str, mode: str, count: int) -> list[object]:
    # Open only after the barrier so that every process also races on creating the schema.
    storage = SqliteStorage(path)
    try:
        if mode == "incr":
            return [await storage.incr("shared:counter") for _ in range(count)]
        if mode == "add":
            return [await storage.add(f"shared:add:{i}", sys.argv[4].encode()) for i in range(count)]
        if mode == "incr_many":
            return [await storage.incr_many([("shared:x", 1, None), ("shared:y", 2, None)]) for _ in range(count)]
        raise SystemExit(f"unknown mode {mode}")
    finally:
        await storage.close()


def main() -> None:
    path, mode, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    print("ready", flush=True)
    sys.stdin.readline()
    print(json.dumps(asyncio.run(run(path, mode, count))), flush=True)


if __name__ == "__main__":
    main()
