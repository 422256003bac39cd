"""Non-proxied public routes: the model list, liveness and readiness."""

from __future__ import annotations

from typing import Any

import asyncio
from urllib.parse import parse_qs

import msgspec

from crabllm.errors import CrabError, MethodNotAllowed
from crabllm.extensions.call import principal_of
from crabllm.extensions.usage import report
from crabllm.registry import Registry
from crabllm.server.observe.access import log_access
from crabllm.server.auth import authenticate
from crabllm.server.http import Exchange, send_json
from crabllm.server.runtime import Gateway

_HEALTH = msgspec.json.encode({"status": "ok"})


def openai_model_list(reg: Registry, names: list[str]) -> bytes:
    data = []
    for name in names:
        target = reg.config.aliases.get(name)
        entry: dict[str, Any] = {"id": name, "object": "model", "created": 0, "owned_by": "crabllm"}
        if target is not None:
            entry["alias_for"] = target
        info = reg.model_info(target or name)
        if info is not None:
            if info.context_length is not None:
                entry["context_length"] = info.context_length
            if info.vision is not None:
                entry["vision"] = info.vision
            if info.pricing is not None:
                entry["pricing"] = msgspec.to_builtins(info.pricing)
        data.append(entry)
    return msgspec.json.encode({"object": "list", "data": data})


def anthropic_model_list(names: list[str]) -> bytes:
    data = [{"type": "model", "id": n, "display_name": n, "created_at": "1970-01-01T00:00:00Z"} for n in names]
    return msgspec.json.encode({"data": data, "has_more": False, "first_id": names[0] if names else None,
                                "last_id": names[-1] if names else None})


class Meta:
    """Handlers bound to a Gateway."""

    def __init__(self, gateway: Gateway) -> None:
        self.gw = gateway

    async def models(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        ex = Exchange(scope, receive, send)
        try:
            if scope["method"] not in ("GET", "HEAD"):
                raise MethodNotAllowed("use GET for /v1/models")
            gw = self.gw
            reg = gw.holder.current
            ex.check_headers(reg.config.limits.max_header_bytes)
            ex.key = authenticate(reg, gw.keys.by_digest, ex.auth, ex.api_key)
            names = reg.visible_models(ex.key)
            anthropic = ex.anthropic_version is not None or (ex.api_key is not None and ex.auth is None)
            body = anthropic_model_list(names) if anthropic else openai_model_list(reg, names)
            await ex.respond(200, body, ex.base_headers())
        except CrabError as e:
            await ex.respond_error(e)
        finally:
            log_access(ex)

    async def usage(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """The caller's own usage rows (the anonymous principal in no-auth mode)."""
        ex = Exchange(scope, receive, send)
        try:
            if scope["method"] not in ("GET", "HEAD"):
                raise MethodNotAllowed("use GET for /v1/usage")
            gw = self.gw
            reg = gw.holder.current
            ex.check_headers(reg.config.limits.max_header_bytes)
            ex.key = authenticate(reg, gw.keys.by_digest, ex.auth, ex.api_key)
            model = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("model", [None])[0]
            rows = await report(gw.storage, key=principal_of(ex.key), model=model)
            await ex.respond(200, msgspec.json.encode({"data": rows}), ex.base_headers())
        except CrabError as e:
            await ex.respond_error(e)
        finally:
            log_access(ex)

    async def health(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send_json(send, 200, _HEALTH)

    async def ready(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """Config loaded and storage reachable; never calls an upstream (nothing billable)."""
        gw = self.gw
        reg = gw.holder.current
        try:
            async with asyncio.timeout(2.0):
                await gw.storage.ping()
        except (CrabError, TimeoutError) as e:
            reason = e.message if isinstance(e, CrabError) else "storage did not answer within 2 s"
            body = msgspec.json.encode({"status": "unavailable", "generation": reg.generation, "reason": reason})
            await send_json(send, 503, body)
            return
        body = msgspec.json.encode({"status": "ready", "generation": reg.generation, "models": len(reg.models),
                                    "storage": reg.config.storage.kind})
        await send_json(send, 200, body)
