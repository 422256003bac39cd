"""Admin sub-commands (keys, providers, usage, reload): argparse wiring only; the work is in admin_run."""

from __future__ import annotations

import argparse
from typing import Any

ADMIN_COMMANDS = ("keys", "providers", "usage", "reload")
PROVIDER_NULLABLE = ("api_key", "base_url", "weight", "max_retries", "timeout", "api_version", "region",
                     "access_key", "secret_key")


def _models(text: str) -> list[str]:
    models = [m.strip() for m in text.split(",") if m.strip()]
    if not models:
        raise argparse.ArgumentTypeError("give at least one model name (comma-separated)")
    return models


def _connection() -> argparse.ArgumentParser:
    """--url/--token/--config/--json, accepted before or after the action (`keys --json list` or `keys list --json`)."""
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("connection")
    # SUPPRESS: a value given at either level survives; absent ones fall back in run_admin.
    g.add_argument("--url", default=argparse.SUPPRESS,
                   help="gateway URL (else $CRABLLM_URL, else the config's listen, else http://127.0.0.1:5632)")
    g.add_argument("--token", default=argparse.SUPPRESS, help="admin token (else $CRABLLM_TOKEN, else the config's admin_token)")
    g.add_argument("--config", default=argparse.SUPPRESS, metavar="PATH",
                   help="local config file read only to find the URL and token (default: crabllm.toml)")
    g.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print raw JSON (for scripts)")
    return p


def _key_limits(p: argparse.ArgumentParser) -> None:
    p.add_argument("--models", type=_models, metavar="A,B", help="allowed models, comma-separated (* = every model)")
    p.add_argument("--rpm", type=int, metavar="N", help="requests per minute")
    p.add_argument("--tpm", type=int, metavar="N", help="tokens per minute")
    p.add_argument("--budget", type=float, metavar="USD", help="spend budget in USD")
    p.add_argument("--expires-in", type=float, metavar="SECONDS", help="expire this many seconds from now")
    p.add_argument("--max-parallel", type=int, metavar="N",
                   help="at most N requests and open streams at once (max_parallel_requests)")


def _provider_fields(p: argparse.ArgumentParser, *, create: bool) -> None:
    p.add_argument("--kind", required=create, metavar="K",
                   help="openai, anthropic, google, bedrock, azure, ollama, mock, or any OpenAI-compatible name")
    p.add_argument("--base-url", metavar="U", help="upstream base URL")
    p.add_argument("--api-key", metavar="K", help="upstream API key (a ${VAR} reference is kept as written)")
    p.add_argument("--models", type=_models, metavar="A,B",
                   help="models served, comma-separated" + (" (default: discovered from the upstream)" if create else ""))
    p.add_argument("--weight", type=int, metavar="N", help="routing weight")
    p.add_argument("--max-retries", type=int, metavar="N", help="retries on transient upstream errors")
    p.add_argument("--timeout", type=float, metavar="S", help="upstream timeout in seconds")
    p.add_argument("--api-version", metavar="V", help="API version (azure, anthropic)")
    p.add_argument("--region", metavar="R", help="AWS region (bedrock)")
    p.add_argument("--access-key", metavar="K", help="AWS access key id (bedrock)")
    p.add_argument("--secret-key", metavar="K", help="AWS secret access key (bedrock)")


def _action(sub: Any, name: str, action: str, conn: argparse.ArgumentParser, help_: str,
            description: str | None = None) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(name, parents=[conn], help=help_, description=description or help_)
    p.set_defaults(admin_action=action)
    return p


def add_admin_parsers(subparsers: Any) -> None:
    """Add `keys`, `providers`, `usage` and `reload` to the `crabllm` sub-command parser."""
    conn = _connection()
    talk = "Talks to a running gateway through the admin API."

    keys = subparsers.add_parser("keys", parents=[conn], help="manage virtual keys on a running gateway",
                                 description=f"Manage virtual keys. {talk}")
    ks = keys.add_subparsers(dest="keys_action", metavar="ACTION", required=True)
    _action(ks, "list", "keys.list", conn, "list every key (config keys are read-only)")
    p = _action(ks, "create", "keys.create", conn, "issue a key; its secret is printed once")
    p.add_argument("name", help="letters, digits, '.', '_' or '-'")
    _key_limits(p)
    p = _action(ks, "show", "keys.show", conn, "show one key")
    p.add_argument("name")
    p = _action(ks, "update", "keys.update", conn, "change an issued key")
    p.add_argument("name")
    _key_limits(p)
    p.add_argument("--clear-rate-limit", action="store_true", help="remove the rate limit")
    p.add_argument("--clear-budget", action="store_true", help="remove the budget")
    p.add_argument("--clear-expiry", action="store_true", help="never expire")
    p.add_argument("--clear-max-parallel", action="store_true", help="remove the parallel-requests limit")
    p = _action(ks, "rotate", "keys.rotate", conn, "give an issued key a new secret (printed once)")
    p.add_argument("name")
    p.add_argument("--grace", type=float, default=0.0, metavar="SECONDS",
                   help="how long the old secret keeps working (default: 0, it stops at once)")
    p = _action(ks, "revoke", "keys.revoke", conn, "revoke an issued key (every worker within 2 s)")
    p.add_argument("name")

    providers = subparsers.add_parser("providers", parents=[conn], help="manage providers on a running gateway",
                                      description=f"Manage providers; changes are written to the gateway's TOML "
                                                  f"file (comments kept). {talk}")
    ps = providers.add_subparsers(dest="providers_action", metavar="ACTION", required=True)
    _action(ps, "list", "providers.list", conn, "list providers (secrets masked)")
    p = _action(ps, "create", "providers.create", conn, "add a provider")
    p.add_argument("name")
    _provider_fields(p, create=True)
    p = _action(ps, "show", "providers.show", conn, "show one provider")
    p.add_argument("name")
    p = _action(ps, "update", "providers.update", conn, "change a provider")
    p.add_argument("name")
    _provider_fields(p, create=False)
    p.add_argument("--clear", action="append", choices=PROVIDER_NULLABLE, default=[], metavar="FIELD",
                   help=f"remove a field (repeatable): {', '.join(PROVIDER_NULLABLE)}")
    p = _action(ps, "delete", "providers.delete", conn, "remove a provider")
    p.add_argument("name")
    p = _action(ps, "test", "providers.test", conn, "live-check a provider (exit 1 when it fails)")
    p.add_argument("name")

    p = _action(subparsers, "usage", "usage", conn, "show recorded usage",
                f"Show recorded usage: requests, tokens and cost per key x model x provider (needs "
                f"[extensions.usage] on the gateway). {talk}")
    p.add_argument("--key", metavar="K", help="only this key")
    p.add_argument("--model", metavar="M", help="only this model")
    p.add_argument("--provider", metavar="P", help="only this provider")
    _action(subparsers, "reload", "reload", conn, "reload the gateway's config file now",
            f"Reload the config file now; prints the new generation, or the error that keeps the old config. {talk}")


def run_admin(args: argparse.Namespace) -> int:
    """Run the parsed admin command; 0 on success, 1 on any error (printed as `error: ...`)."""
    from crabllm.cli.admin_run import run

    return run(args)
