"""Token, request and spend counters per key x model x provider, exact across workers (atomic increments)."""

from __future__ import annotations

from typing import Any

from crabllm.extensions.call import Call
from crabllm.storage.base import Increment, Storage

PREFIX = "us/"
KINDS = {"p": "prompt_tokens", "c": "completion_tokens", "r": "requests", "u": "cost_micros"}


def increments(call: Call, provider: str, prompt: int, completion: int, cost_micros: int) -> list[Increment]:
    # The model goes last: model names may contain '/', key and provider names may not.
    base = f"{PREFIX}{call.principal}/{provider or '-'}/"
    ops: list[Increment] = [(base + "r/" + call.model, 1, None)]
    if prompt:
        ops.append((base + "p/" + call.model, prompt, None))
    if completion:
        ops.append((base + "c/" + call.model, completion, None))
    if cost_micros:
        ops.append((base + "u/" + call.model, cost_micros, None))
    return ops


async def report(storage: Storage, *, key: str | None = None, model: str | None = None,
                 provider: str | None = None) -> list[dict[str, Any]]:
    prefix = PREFIX + (f"{key}/" if key else "")
    rows: dict[tuple[str, str, str], dict[str, Any]] = {}
    for name, value in await storage.list(prefix):
        parts = name[len(PREFIX):].split("/", 3)
        if len(parts) != 4 or parts[2] not in KINDS:
            continue
        who, prov, kind, mdl = parts
        if (model and mdl != model) or (provider and prov != provider):
            continue
        row = rows.setdefault((who, mdl, prov), {"key": who, "model": mdl, "provider": prov, "requests": 0,
                                                  "prompt_tokens": 0, "completion_tokens": 0, "cost_micros": 0})
        row[KINDS[kind]] += int(value) if value.lstrip(b"-").isdigit() else 0
    out = sorted(rows.values(), key=lambda r: (r["key"], r["model"], r["provider"]))
    for row in out:
        row["total_tokens"] = row["prompt_tokens"] + row["completion_tokens"]
        row["cost_usd"] = row.pop("cost_micros") / 1e6
    return out
