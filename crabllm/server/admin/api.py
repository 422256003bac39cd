"""Admin API: config status and reload, and virtual keys (config keys read-only, issued keys CRUD)."""

from __future__ import annotations

import time
from typing import Any

from litestar import Request, Router, delete, get, patch, post
from litestar.params import FromPath, JSONBody
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from crabllm.errors import InvalidRequest, NotFound, PermissionDenied
from crabllm.registry import KeyEntry
from crabllm.server.auth import check_admin
from crabllm.server.runtime import Gateway
from crabllm.types.admin import ConfigStatus, IssuedKey, KeyCreate, KeyCreated, KeyInfo, KeyList, KeyPatch, KeyRotate


def gateway_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Gateway:
    return connection.app.state.gateway  # type: ignore[no-any-return]


def admin_guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Every admin route needs the admin token (constant-time digest compare)."""
    registry = gateway_of(connection).holder.current
    if registry.admin_digest is None:
        raise NotFound("the admin API is disabled: set admin_token in the config")
    value = connection.headers.get("authorization")
    check_admin(registry, value.encode() if value is not None else None)


def config_status(gw: Gateway) -> ConfigStatus:
    reg = gw.holder.current
    return ConfigStatus(path=str(gw.reloader.path), generation=reg.generation, loaded_at=reg.loaded_at,
                        storage=reg.config.storage.kind, last_reload=gw.reloader.last)


def _config_key_info(name: str, entry: KeyEntry, prefix: str | None) -> KeyInfo:
    models = ["*"] if entry.models is None else sorted(entry.models)
    return KeyInfo(name=name, source="config", models=models, key_prefix=prefix, rate_limit=entry.rate_limit,
                   budget=entry.budget, max_parallel_requests=entry.max_parallel_requests)


def _issued_info(record: IssuedKey) -> KeyInfo:
    expired = record.expires_at is not None and time.time() >= record.expires_at
    return KeyInfo(name=record.name, source="issued", models=record.models, key_prefix=record.prefix + "…",
                   rate_limit=record.rate_limit, budget=record.budget, expires_at=record.expires_at,
                   created_at=record.created_at, expired=expired, previous_expires_at=record.previous_expires_at,
                   max_parallel_requests=record.max_parallel_requests)


def _config_keys(gw: Gateway) -> dict[str, KeyInfo]:
    reg = gw.holder.current
    out = {}
    for k in reg.config.keys:
        entry = KeyEntry(name=k.name, models=None if "*" in k.models else frozenset(k.models),
                         rate_limit=k.rate_limit, budget=k.budget, max_parallel_requests=k.max_parallel_requests)
        out[k.name] = _config_key_info(k.name, entry, (k.key.reveal()[:8] + "…") if k.key else None)
    return out


@get("/config", summary="Config file status: path, generation, last reload result")
async def get_config(request: Request[Any, Any, Any]) -> ConfigStatus:
    return config_status(gateway_of(request))


@post("/reload", status_code=200, summary="Reload the config file now; 400 with the error if it is invalid")
async def reload_config(request: Request[Any, Any, Any]) -> ConfigStatus:
    gw = gateway_of(request)
    status = await gw.reloader.reload("admin API")
    if not status.ok:
        raise InvalidRequest(status.error or "reload failed", code="invalid_config")
    return config_status(gw)


@get("/keys", summary="Every key: config keys (read-only) and issued keys")
async def list_keys(request: Request[Any, Any, Any]) -> KeyList:
    gw = gateway_of(request)
    await gw.keys.refresh()
    data = list(_config_keys(gw).values())
    data.extend(_issued_info(r) for r in sorted(gw.keys.records.values(), key=lambda r: r.name))
    return KeyList(data=data)


@post("/keys", status_code=201, summary="Issue a key; the secret is returned once")
async def create_key(request: Request[Any, Any, Any], data: JSONBody[KeyCreate]) -> KeyCreated:
    gw = gateway_of(request)
    record, secret = await gw.keys.create(data, reserved=set(_config_keys(gw)))
    info = _issued_info(record)
    return KeyCreated(**{f: getattr(info, f) for f in info.__struct_fields__}, key=secret)


@get("/keys/{name:str}", summary="One key")
async def get_key(request: Request[Any, Any, Any], name: FromPath[str]) -> KeyInfo:
    gw = gateway_of(request)
    config = _config_keys(gw)
    if name in config:
        return config[name]
    return _issued_info(await gw.keys.get(name))


@patch("/keys/{name:str}", summary="Change an issued key's models, limits, budget or expiry (merge patch)")
async def update_key(request: Request[Any, Any, Any], name: FromPath[str], data: JSONBody[KeyPatch]) -> KeyInfo:
    gw = gateway_of(request)
    if name in _config_keys(gw):
        raise PermissionDenied(f"key '{name}' is managed by the config file; edit the file instead", code="config_key")
    return _issued_info(await gw.keys.update(name, data))


@post("/keys/{name:str}/rotate", status_code=200,
      summary="New secret for an issued key; the old one keeps working for grace_seconds")
async def rotate_key(request: Request[Any, Any, Any], name: FromPath[str], data: JSONBody[KeyRotate]) -> KeyCreated:
    gw = gateway_of(request)
    if name in _config_keys(gw):
        raise PermissionDenied(f"key '{name}' is managed by the config file; edit the file instead", code="config_key")
    record, secret = await gw.keys.rotate(name, data.grace_seconds)
    info = _issued_info(record)
    return KeyCreated(**{f: getattr(info, f) for f in info.__struct_fields__}, key=secret)


@delete("/keys/{name:str}", status_code=204, summary="Revoke an issued key (every worker within 2 s)")
async def revoke_key(request: Request[Any, Any, Any], name: FromPath[str]) -> None:
    gw = gateway_of(request)
    if name in _config_keys(gw):
        raise PermissionDenied(f"key '{name}' is managed by the config file; edit the file instead", code="config_key")
    await gw.keys.revoke(name)


def admin_router(extra: list[Any]) -> Router:
    handlers = [get_config, reload_config, list_keys, create_key, get_key, update_key, rotate_key, revoke_key, *extra]
    return Router(path="/v1/admin", route_handlers=handlers, guards=[admin_guard], tags=["admin"])
