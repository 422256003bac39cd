"""Admin routes of the extensions: usage, budgets (with reset), the audit log, and clearing the cache."""

from __future__ import annotations

import time
from typing import Any

from litestar import Request, delete, get, post
from litestar.params import FromPath, FromQuery

from crabllm.errors import NotFound
from crabllm.extensions.budget import next_reset, period_id
from crabllm.extensions.cache import Cache
from crabllm.extensions.call import ANONYMOUS
from crabllm.extensions.usage import report
from crabllm.server.admin.api import gateway_of
from crabllm.server.runtime import Gateway


def _require(gw: Gateway, name: str) -> Any:
    ext = getattr(gw.holder.current.config.extensions, name)
    if ext is None:
        raise NotFound(f"the {name} extension is not enabled: add [extensions.{name}] to the config")
    return ext


@get("/usage", summary="Token, request and cost totals per key x model x provider")
async def admin_usage(request: Request[Any, Any, Any], key: FromQuery[str | None] = None,
                      model: FromQuery[str | None] = None, provider: FromQuery[str | None] = None) -> dict[str, Any]:
    gw = gateway_of(request)
    _require(gw, "usage")
    return {"data": await report(gw.storage, key=key, model=model, provider=provider)}


def _budget_names(gw: Gateway) -> list[str]:
    reg = gw.holder.current
    names = [k.name for k in reg.config.keys] + sorted(gw.keys.records)
    if not reg.auth_enabled:
        names.append(ANONYMOUS)
    return names


@get("/budget", summary="Spend, limit, remaining and next reset per key for the current period")
async def admin_budget(request: Request[Any, Any, Any]) -> dict[str, Any]:
    gw = gateway_of(request)
    cfg = _require(gw, "budget")
    budget = gw.holder.current.pipeline.budget
    now = time.time()
    issued = gw.keys.records
    own = {k.name: k.budget for k in gw.holder.current.config.keys}
    rows = []
    for name in _budget_names(gw):
        limit = budget.limit_usd(name, own.get(name) if name in own else (issued[name].budget if name in issued else None))
        raw = await gw.storage.get(budget.spend_key(name, now))
        spent = int(raw) / 1e6 if raw and raw.lstrip(b"-").isdigit() else 0.0
        rows.append({"key": name, "spent_usd": spent, "limit_usd": limit,
                     "remaining_usd": None if limit is None else max(0.0, limit - spent),
                     "period": cfg.period, "period_id": period_id(cfg.period, now), "next_reset": next_reset(cfg.period, now)})
    return {"data": rows}


@post("/budget/{name:str}/reset", status_code=200, summary="Zero one key's spend for the current period")
async def reset_budget(request: Request[Any, Any, Any], name: FromPath[str]) -> dict[str, Any]:
    gw = gateway_of(request)
    _require(gw, "budget")
    if name not in _budget_names(gw):
        raise NotFound(f"key '{name}' not found")
    budget = gw.holder.current.pipeline.budget
    await gw.storage.delete(budget.spend_key(name, time.time()))
    return {"key": name, "spent_usd": 0.0}


@delete("/cache", status_code=200, summary="Remove every cached response")
async def clear_cache(request: Request[Any, Any, Any]) -> dict[str, Any]:
    gw = gateway_of(request)
    cfg = _require(gw, "cache")
    removed = await Cache(cfg, gw.storage).clear()
    return {"removed": removed}


@get("/logs", summary="Audit records, newest first, filtered by key, model, status and time range (epoch ms)")
async def admin_logs(request: Request[Any, Any, Any], key: FromQuery[str | None] = None,
                     model: FromQuery[str | None] = None, status: FromQuery[int | None] = None,
                     since: FromQuery[int | None] = None, until: FromQuery[int | None] = None,
                     limit: FromQuery[int] = 100) -> dict[str, Any]:
    gw = gateway_of(request)
    _require(gw, "audit")
    await gw.audit.drain()
    return {"data": await gw.audit.query(key=key, model=model, status=status, since=since, until=until, limit=limit)}


EXTENSION_HANDLERS = [admin_usage, admin_budget, reset_budget, clear_cache, admin_logs]
