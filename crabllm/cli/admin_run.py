"""The admin sub-commands at work: build the request, call the gateway, print a table or raw JSON."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable
from types import MappingProxyType
from urllib.parse import quote
from typing import Any

from crabllm.cli.table import EMPTY, dict_table, fields, table, when
from crabllm.client import AdminClient, ClientError, Target, resolve_target

DEFAULT_CONFIG = "crabllm.toml"


class UsageError(Exception):
    """The command line asks for something impossible; nothing was sent."""


def run(args: argparse.Namespace) -> int:
    target = resolve_target(getattr(args, "url", None), getattr(args, "token", None),
                            getattr(args, "config", DEFAULT_CONFIG))
    command = COMMANDS[args.admin_action]
    try:
        return asyncio.run(_call(command, args, target))
    except UsageError as e:
        return _fail(str(e))
    except ClientError as e:
        return _fail(explain(e, target))


async def _call(command: Callable[[AdminClient, argparse.Namespace], Awaitable[int]], args: argparse.Namespace,
                target: Target) -> int:
    async with AdminClient(target) as client:
        return await command(client, args)


def explain(error: ClientError, target: Target) -> str:
    if error.status == 0:
        return (f"{error.message}\n(fix: start the gateway with `crabllm serve`, or pass --url / set CRABLLM_URL "
                f"to where it listens)")
    if error.status == 401:
        hint = "the token was rejected" if target.token else "no admin token was found"
        return (f"{error.message} ({hint}; fix: pass --token, set CRABLLM_TOKEN, or run next to the gateway's "
                f"crabllm.toml / pass --config)")
    return error.message


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 1


def _out(args: argparse.Namespace, data: Any, human: Callable[[], str]) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False) if getattr(args, "json", False) else human())


# ---- keys -------------------------------------------------------------------------------------


def _limit(rl: dict[str, Any] | None, field: str) -> Any:
    return None if not rl else rl.get(field)


def _key_status(k: dict[str, Any]) -> str:
    return "expired" if k.get("expired") else "active"


def key_rows(keys: list[dict[str, Any]]) -> str:
    rows = [[k["name"], k["source"], k["models"], k.get("key_prefix"), _limit(k.get("rate_limit"), "requests_per_minute"),
             _limit(k.get("rate_limit"), "tokens_per_minute"), k.get("budget"), when(k.get("expires_at")),
             _key_status(k)] for k in keys]
    return table(["NAME", "SOURCE", "MODELS", "PREFIX", "RPM", "TPM", "BUDGET", "EXPIRES", "STATUS"], rows)


def key_fields(k: dict[str, Any]) -> str:
    rl = k.get("rate_limit")
    parallel = [("max parallel", k["max_parallel_requests"])] if k.get("max_parallel_requests") else []
    return fields([("name", k["name"]), ("source", k["source"]), ("models", k["models"]), ("prefix", k.get("key_prefix")),
                   ("rpm", _limit(rl, "requests_per_minute")), ("tpm", _limit(rl, "tokens_per_minute")),
                   ("budget", k.get("budget")), *parallel, ("created", when(k.get("created_at"))),
                   ("expires", when(k.get("expires_at"))), ("status", _key_status(k))])


async def keys_list(c: AdminClient, args: argparse.Namespace) -> int:
    data = await c.request("GET", "/v1/admin/keys")
    _out(args, data, lambda: key_rows(data["data"]))
    return 0


def _rate_limit(args: argparse.Namespace, current: dict[str, Any] | None = None) -> dict[str, Any] | None:
    if args.rpm is None and args.tpm is None:
        return None
    rl = dict(current or {})
    if args.rpm is not None:
        rl["requests_per_minute"] = args.rpm
    if args.tpm is not None:
        rl["tokens_per_minute"] = args.tpm
    return rl


async def keys_create(c: AdminClient, args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"name": args.name}
    if args.models is not None:
        body["models"] = args.models
    rate_limit = _rate_limit(args)
    if rate_limit is not None:
        body["rate_limit"] = rate_limit
    if args.budget is not None:
        body["budget"] = args.budget
    if args.expires_in is not None:
        body["expires_in"] = args.expires_in
    if args.max_parallel is not None:
        body["max_parallel_requests"] = args.max_parallel
    _print_secret(args, await c.create_key(body))
    return 0


def _print_secret(args: argparse.Namespace, created: dict[str, Any]) -> None:
    _out(args, created, lambda: f"{key_fields(created)}\n\nkey: {created['key']}")
    print("warning: this secret is shown only once; store it now (the gateway keeps only its SHA-256).",
          file=sys.stderr)


async def keys_rotate(c: AdminClient, args: argparse.Namespace) -> int:
    if args.grace < 0:
        raise UsageError("--grace must not be negative")
    path = f"/v1/admin/keys/{quote(args.name, safe='')}/rotate"
    _print_secret(args, await c.request("POST", path, json={"grace_seconds": args.grace}))
    return 0


async def keys_show(c: AdminClient, args: argparse.Namespace) -> int:
    key = await c.key(args.name)
    _out(args, key, lambda: key_fields(key))
    return 0


def _conflict(a: Any, clear: bool, flags: str, clear_flag: str) -> None:
    if a and clear:
        raise UsageError(f"{flags} and {clear_flag} contradict each other; pass one")


async def keys_update(c: AdminClient, args: argparse.Namespace) -> int:
    _conflict(args.rpm is not None or args.tpm is not None, args.clear_rate_limit, "--rpm/--tpm", "--clear-rate-limit")
    _conflict(args.budget is not None, args.clear_budget, "--budget", "--clear-budget")
    _conflict(args.expires_in is not None, args.clear_expiry, "--expires-in", "--clear-expiry")
    patch: dict[str, Any] = {}
    if args.models is not None:
        patch["models"] = args.models
    if args.rpm is not None or args.tpm is not None:
        # The API replaces rate_limit whole; keep the limit this command does not mention.
        patch["rate_limit"] = _rate_limit(args, (await c.key(args.name)).get("rate_limit"))
    if args.clear_rate_limit:
        patch["rate_limit"] = None
    if args.budget is not None or args.clear_budget:
        patch["budget"] = args.budget
    if args.expires_in is not None:
        patch["expires_at"] = time.time() + args.expires_in
    if args.clear_expiry:
        patch["expires_at"] = None
    _conflict(args.max_parallel is not None, args.clear_max_parallel, "--max-parallel", "--clear-max-parallel")
    if args.max_parallel is not None or args.clear_max_parallel:
        patch["max_parallel_requests"] = args.max_parallel
    if not patch:
        raise UsageError("nothing to update: pass --models, --rpm, --tpm, --budget, --expires-in, --max-parallel or a --clear-* flag")
    key = await c.update_key(args.name, patch)
    _out(args, key, lambda: f"updated key '{args.name}'\n{key_fields(key)}")
    return 0


async def keys_revoke(c: AdminClient, args: argparse.Namespace) -> int:
    await c.revoke_key(args.name)
    _out(args, {"revoked": args.name}, lambda: f"revoked key '{args.name}'")
    return 0


# ---- providers ---------------------------------------------------------------------------------


def _models_cell(models: list[str]) -> str:
    return ",".join(models) if len(models) <= 3 else ",".join(models[:3]) + f" +{len(models) - 3}"


def _last_test(test: dict[str, Any] | None) -> str | None:
    if not test:
        return None
    return f"{'ok' if test['ok'] else 'failed'} {test['latency_ms']:g}ms"


def provider_rows(providers: list[dict[str, Any]]) -> str:
    rows = [[p["name"], p["kind"], _models_cell(p["models"]), p["weight"], p["max_retries"], p["timeout"],
             p.get("base_url"), p.get("api_key"), _last_test(p.get("last_test"))] for p in providers]
    return table(["NAME", "KIND", "MODELS", "WEIGHT", "RETRIES", "TIMEOUT", "BASE_URL", "API_KEY", "LAST_TEST"], rows)


def provider_fields(p: dict[str, Any]) -> str:
    return fields([("name", p["name"]), ("kind", p["kind"]), ("models", p["models"]), ("weight", p["weight"]),
                   ("max_retries", p["max_retries"]), ("timeout", p["timeout"]), ("base_url", p.get("base_url")),
                   ("api_key", p.get("api_key")), ("api_version", p.get("api_version")),
                   ("last_test", _last_test(p.get("last_test")))])


PROVIDER_FLAGS = ("kind", "base_url", "api_key", "models", "weight", "max_retries", "timeout", "api_version",
                  "region", "access_key", "secret_key")


def _provider_body(args: argparse.Namespace) -> dict[str, Any]:
    return {f: getattr(args, f) for f in PROVIDER_FLAGS if getattr(args, f, None) is not None}


async def providers_list(c: AdminClient, args: argparse.Namespace) -> int:
    data = await c.request("GET", "/v1/admin/providers")
    _out(args, data, lambda: provider_rows(data["data"]))
    return 0


async def providers_create(c: AdminClient, args: argparse.Namespace) -> int:
    info = await c.create_provider({"name": args.name, **_provider_body(args)})
    _out(args, info, lambda: f"created provider '{args.name}'\n{provider_fields(info)}")
    return 0


async def providers_show(c: AdminClient, args: argparse.Namespace) -> int:
    info = await c.provider(args.name)
    _out(args, info, lambda: provider_fields(info))
    return 0


async def providers_update(c: AdminClient, args: argparse.Namespace) -> int:
    patch = _provider_body(args)
    both = sorted(set(args.clear) & set(patch))
    if both:
        raise UsageError(f"--clear {both[0]} contradicts --{both[0].replace('_', '-')}; pass one")
    patch.update(dict.fromkeys(args.clear))
    if not patch:
        raise UsageError("nothing to update: pass a field flag (see --help) or --clear FIELD")
    info = await c.update_provider(args.name, patch)
    _out(args, info, lambda: f"updated provider '{args.name}'\n{provider_fields(info)}")
    return 0


async def providers_delete(c: AdminClient, args: argparse.Namespace) -> int:
    await c.delete_provider(args.name)
    _out(args, {"deleted": args.name}, lambda: f"deleted provider '{args.name}'")
    return 0


def _test_line(name: str, t: dict[str, Any]) -> str:
    if t["ok"]:
        extra = f"  ({len(t['models'])} models)" if t.get("models") else ""
        return f"{name}: ok  {t['latency_ms']:g} ms{extra}"
    return f"{name}: failed  {t['latency_ms']:g} ms  error: {t.get('error') or 'status ' + str(t.get('status'))}"


async def providers_test(c: AdminClient, args: argparse.Namespace) -> int:
    result = await c.test_provider(args.name)
    _out(args, result, lambda: _test_line(args.name, result))
    return 0 if result.get("ok") else 1


# ---- usage and reload ----------------------------------------------------------------------------


async def usage(c: AdminClient, args: argparse.Namespace) -> int:
    try:
        data = await c.usage(key=args.key or "", model=args.model or "", provider=args.provider or "")
    except ClientError as e:
        if e.status != 404 or not e.message.startswith("no route"):
            raise
        data = {"data": []}  # a gateway too old to have the route records nothing

    def human() -> str:
        rows = data.get("data") if isinstance(data, dict) else data
        if isinstance(rows, list):
            return dict_table([r if isinstance(r, dict) else {"value": r} for r in rows])
        if isinstance(data, dict) and data:
            return fields(list(data.items()))
        return EMPTY

    _out(args, data, human)
    return 0


async def reload(c: AdminClient, args: argparse.Namespace) -> int:
    status = await c.reload()
    _out(args, status, lambda: f"reloaded {status['path']}: generation {status['generation']}")
    return 0


COMMANDS: MappingProxyType[str, Callable[[AdminClient, argparse.Namespace], Awaitable[int]]] = MappingProxyType({
    "keys.list": keys_list, "keys.create": keys_create, "keys.show": keys_show, "keys.update": keys_update,
    "keys.rotate": keys_rotate, "keys.revoke": keys_revoke,
    "providers.list": providers_list, "providers.create": providers_create, "providers.show": providers_show,
    "providers.update": providers_update, "providers.delete": providers_delete, "providers.test": providers_test,
    "usage": usage, "reload": reload,
})
