"""Admin API for providers: edits go through the TOML editor (comments kept), then a reload applies them."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
from litestar import Request, delete, get, patch, post
from litestar.params import FromPath, JSONBody

from crabllm.routing.breaker import deployment_id
from crabllm.config.loader import config_from_raw
from crabllm.config.schema import ProviderConfig
from crabllm.config.secret import Secret, reveal
from crabllm.config.validate import OPENAI_WIRE_KINDS, TRANSLATED_KINDS
from crabllm.errors import ConfigError, CrabError, InvalidRequest, NotFound
from crabllm.providers.base import Endpoint
from crabllm.providers.openai import DEFAULT_BASE_URLS, normalize_base_url
from crabllm.server.admin.api import gateway_of
from crabllm.server.runtime import Gateway
from crabllm.types.admin import (
    DeploymentHealth, ProviderCreate, ProviderHealth, ProviderInfo, ProviderList, ProviderPatch, ProviderTest,
)

PROBE_TIMEOUT = 10.0
_MODELS = msgspec.json.Decoder(dict[str, Any])


def mask(secret: Secret | str | None) -> str | None:
    if isinstance(secret, Secret):
        secret = secret.reveal()
    if not secret:
        return None
    return secret[:6] + "…" if len(secret) > 12 else "***"


def provider_info(gw: Gateway, name: str, cfg: ProviderConfig) -> ProviderInfo:
    deployments = _deployments(gw, name, cfg)
    return ProviderInfo(name=name, kind=cfg.kind, models=list(cfg.models), weight=cfg.weight, max_retries=cfg.max_retries,
                        timeout=cfg.timeout, base_url=cfg.base_url, api_key=mask(cfg.api_key),
                        api_version=cfg.api_version, last_test=gw.provider_tests.get(name),
                        health=_aggregate(name, deployments), deployments=deployments)


#: How bad each circuit state is, for a provider's aggregate.
_SEVERITY = {"closed": 0, "rate_limited": 1, "half_open": 2, "open": 3}


def _deployments(gw: Gateway, name: str, cfg: ProviderConfig) -> list[DeploymentHealth]:
    out = []
    for m in dict.fromkeys(cfg.models):
        dep = deployment_id(name, m)
        ewma, inflight = gw.loads.status(dep)
        out.append(DeploymentHealth(model=m, **gw.breaker.status(dep), ewma_latency_ms=ewma,  # type: ignore[arg-type]
                                    inflight=inflight))
    return out


def _aggregate(name: str, deployments: list[DeploymentHealth]) -> ProviderHealth:
    """The provider's worst deployment, and which models are not closed."""
    if not deployments:
        return ProviderHealth(state="closed")
    worst = max(deployments, key=lambda d: _SEVERITY.get(d.state, 0))
    last_error = next((d.last_error for d in deployments if d.last_error), None)
    return ProviderHealth(state=worst.state, consecutive_failures=max(d.consecutive_failures for d in deployments),
                          error_rate=max(d.error_rate for d in deployments), open_until=worst.open_until,
                          last_error=worst.last_error or last_error,
                          open_models=[d.model for d in deployments if d.state != "closed"])


def editor(gw: Gateway) -> Any:
    """The TOML editor (tomlkit is imported on first use: most gateways never edit their file)."""
    from crabllm.config.editor import ConfigEditor

    path = gw.reloader.path

    def validate(raw: dict[str, Any]) -> None:
        config_from_raw(raw, file=str(path), env=_environ(), base_dir=Path(path).parent)

    return ConfigEditor(path, validate=validate)


def _environ() -> dict[str, str]:
    return dict(os.environ)


async def _apply(gw: Gateway, op: Any, *args: Any, **kw: Any) -> None:
    """Write the file (in a thread: it locks and fsyncs), then reload this worker at once."""
    try:
        await asyncio.to_thread(op, *args, **kw)
    except ConfigError as e:
        raise InvalidRequest(e.message if not e.path else f"{e.path}: {e.message}", code="invalid_config") from None
    status = await gw.reloader.reload("admin API")
    if not status.ok:
        raise InvalidRequest(status.error or "reload failed", code="invalid_config")


async def discover_models(session: aiohttp.ClientSession, kind: str, base_url: str | None, api_key: str | None) -> list[str]:
    if kind in TRANSLATED_KINDS or (kind not in OPENAI_WIRE_KINDS and base_url is None):
        raise InvalidRequest(f"models is required for kind '{kind}'", param="models")
    base = normalize_base_url(base_url or DEFAULT_BASE_URLS.get(kind, ""))
    url = f"{base}/models"
    headers = {"authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        async with session.get(url, headers=headers, timeout=aiohttp.ClientTimeout(total=PROBE_TIMEOUT)) as resp:
            body = await resp.read()
            if resp.status != 200:
                raise InvalidRequest(f"{url} returned {resp.status}; pass models explicitly", param="models")
    except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as e:
        raise InvalidRequest(f"cannot fetch models from {url}: {e or type(e).__name__}; pass models explicitly",
                             param="models") from None
    try:
        ids = [m["id"] for m in _MODELS.decode(body).get("data", []) if isinstance(m, dict) and isinstance(m.get("id"), str)]
    except msgspec.DecodeError:
        raise InvalidRequest(f"{url} did not answer JSON; pass models explicitly", param="models") from None
    if not ids:
        raise InvalidRequest(f"{url} listed no models; pass models explicitly", param="models")
    return ids


def _check_provider(gw: Gateway, name: str, fields: dict[str, Any]) -> None:
    try:
        raw = {"providers": {name: fields}}
        config_from_raw(raw, file=str(gw.reloader.path), env=_environ(), base_dir=Path(gw.reloader.path).parent)
    except ConfigError as e:
        raise InvalidRequest(e.message if not e.path else f"{e.path}: {e.message}", code="invalid_config") from None


@get("/providers", summary="Every provider, secrets masked, with the last live test")
async def list_providers(request: Request[Any, Any, Any]) -> ProviderList:
    gw = gateway_of(request)
    providers = gw.holder.current.config.providers
    return ProviderList(data=[provider_info(gw, n, c) for n, c in providers.items()])


@get("/providers/{name:str}", summary="One provider")
async def get_provider(request: Request[Any, Any, Any], name: FromPath[str]) -> ProviderInfo:
    gw = gateway_of(request)
    cfg = gw.holder.current.config.providers.get(name)
    if cfg is None:
        raise NotFound(f"provider '{name}' not found")
    return provider_info(gw, name, cfg)


@post("/providers", status_code=201, summary="Add a provider to the TOML (models discovered when omitted)")
async def create_provider(request: Request[Any, Any, Any], data: JSONBody[ProviderCreate]) -> ProviderInfo:
    gw = gateway_of(request)
    fields = {f: getattr(data, f) for f in data.__struct_fields__ if f != "name" and getattr(data, f) is not None}
    if not data.models:
        # Validate what we are about to send before using it in a request.
        check = dict(fields, models=["-"])
        _check_provider(gw, data.name, check)
        fields["models"] = await discover_models(gw.session, data.kind, data.base_url, data.api_key)
    await _apply(gw, editor(gw).upsert_provider, data.name, fields, create=True)
    return await get_provider.fn(request, data.name)  # type: ignore[no-any-return]


@patch("/providers/{name:str}", summary="Change a provider in the TOML (merge patch; null removes a field)")
async def update_provider(request: Request[Any, Any, Any], name: FromPath[str], data: JSONBody[ProviderPatch]) -> ProviderInfo:
    gw = gateway_of(request)
    fields = {f: getattr(data, f) for f in data.__struct_fields__ if getattr(data, f) is not msgspec.UNSET}
    if not fields:
        raise InvalidRequest("nothing to update")
    await _apply(gw, editor(gw).upsert_provider, name, fields, create=False)
    return await get_provider.fn(request, name)  # type: ignore[no-any-return]


@delete("/providers/{name:str}", status_code=204, summary="Remove a provider from the TOML")
async def delete_provider(request: Request[Any, Any, Any], name: FromPath[str]) -> None:
    gw = gateway_of(request)
    await _apply(gw, editor(gw).delete_provider, name)


@post("/providers/{name:str}/test", status_code=200, summary="A cheap live check (models list) with latency")
async def test_provider(request: Request[Any, Any, Any], name: FromPath[str]) -> ProviderTest:
    gw = gateway_of(request)
    cfg = gw.holder.current.config.providers.get(name)
    if cfg is None:
        raise NotFound(f"provider '{name}' not found")
    started = time.perf_counter()
    if cfg.kind == "mock":
        result = ProviderTest(ok=True, latency_ms=0.0, status=200, models=list(cfg.models), tested_at=time.time())
    elif cfg.kind in TRANSLATED_KINDS:
        result = await _probe_chat(gw, name, cfg, started)
    else:
        try:
            models = await discover_models(gw.session, cfg.kind if cfg.kind in OPENAI_WIRE_KINDS else "openai",
                                           cfg.base_url, reveal(cfg.api_key) or None)
            result = ProviderTest(ok=True, latency_ms=_ms(started), status=200, models=models, tested_at=time.time())
        except InvalidRequest as e:
            result = ProviderTest(ok=False, latency_ms=_ms(started), error=e.message, tested_at=time.time())
    gw.provider_tests[name] = result
    return result


async def _probe_chat(gw: Gateway, name: str, cfg: ProviderConfig, started: float) -> ProviderTest:
    """Kinds without an OpenAI-style models list: a 1-token chat request to the first model."""
    provider = gw.holder.current.providers.get(name)
    if provider is None or not cfg.models:
        return ProviderTest(ok=False, latency_ms=0.0, error="the provider serves no model to test", tested_at=time.time())
    model = cfg.models[0]
    body = msgspec.json.encode({"model": model, "max_tokens": 1, "messages": [{"role": "user", "content": "ping"}]})
    try:
        upstream = await provider.send(Endpoint.CHAT, body, model, False)
        await upstream.read()
    except CrabError as e:
        return ProviderTest(ok=False, latency_ms=_ms(started), status=e.status, error=e.message, tested_at=time.time())
    return ProviderTest(ok=True, latency_ms=_ms(started), status=200, models=list(cfg.models), tested_at=time.time())


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)


PROVIDER_HANDLERS = [list_providers, get_provider, create_provider, update_provider, delete_provider, test_provider]
