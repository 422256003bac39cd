"""`crabllm tui` argument parsing and entry point (imported lazily by crabllm.cli.main)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number of seconds") from None
    if not 0.1 <= value <= 3600:
        raise argparse.ArgumentTypeError("use between 0.1 and 3600 seconds")
    return value


def add_tui_parser(subparsers: Any, parents: Sequence[argparse.ArgumentParser] = ()) -> None:
    """Register `tui` on the `crabllm` sub-command parsers."""
    tui = subparsers.add_parser(
        "tui", parents=list(parents), help="live console for a running gateway",
        description="A live console for a running gateway: traffic dashboard, keys, providers and a request log. "
                    "URL and token come from the flags, then CRABLLM_URL / CRABLLM_TOKEN, then the config file.")
    tui.add_argument("--url", help="gateway URL (default: CRABLLM_URL, the config's listen, http://127.0.0.1:5632)")
    tui.add_argument("--token", help="admin token (default: CRABLLM_TOKEN, then the config's admin_token)")
    tui.add_argument("--read-only", action="store_true", help="hide every action that changes the gateway")
    tui.add_argument("--refresh", type=_seconds, default=2.0, metavar="SECONDS",
                     help="how often to poll the gateway (default: 2)")
    tui.add_argument("-c", "--config", default="crabllm.toml", metavar="PATH",
                     help="config file to read the URL and admin token from (default: crabllm.toml)")


def run_tui(args: argparse.Namespace) -> int:
    """Run the console until the operator quits; the gateway is untouched by quitting."""
    from crabllm.client import AdminClient, resolve_target
    from tui.app import ConsoleApp

    target = resolve_target(getattr(args, "url", None), getattr(args, "token", None), getattr(args, "config", None))
    app = ConsoleApp(AdminClient(target), read_only=bool(getattr(args, "read_only", False)),
                     refresh=float(getattr(args, "refresh", 2.0)))
    app.run()
    return app.return_code or 0
