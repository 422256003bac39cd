"""`crabllm` command line: global flags and sub-command dispatch (heavy imports stay lazy)."""

from __future__ import annotations

import argparse
import sys

from crabllm import __version__
from crabllm.cli.admin import add_admin_parsers
from crabllm.cli.check import add_check_parser
from crabllm.cli.openapi import add_openapi_parser
from tui.cli import add_tui_parser

DEFAULT_CONFIG = "crabllm.toml"


def build_parser() -> argparse.ArgumentParser:
    verbose = argparse.ArgumentParser(add_help=False)
    verbose.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS,
                         help="more logging: -v info for everything, -vv debug, -vvv trace")
    parser = argparse.ArgumentParser(
        prog="crabllm", parents=[verbose],
        description="crabllm: a high-performance LLM API gateway (OpenAI- and Anthropic-compatible).",
        epilog="With no command, runs `crabllm serve`.")
    parser.add_argument("--version", action="version", version=f"crabllm {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = sub.add_parser("serve", parents=[verbose], help="run the gateway",
                           description="Run the gateway. A missing config file is created first (as `crabllm init`).")
    serve.add_argument("-c", "--config", default=DEFAULT_CONFIG, help="config file (default: crabllm.toml)")
    serve.add_argument("-b", "--bind", help="HOST:PORT to listen on, overriding `listen`")
    serve.add_argument("-w", "--workers", type=int, default=1,
                       help="worker processes sharing the port (needs sqlite or redis storage when > 1)")
    serve.add_argument("--insecure", action="store_true",
                       help="allow a non-loopback address with authentication off (no keys, no admin token)")

    init = sub.add_parser("init", parents=[verbose], help="write a starter config",
                          description="Write a commented starter config (mode 0600) with a fresh admin token and key.")
    init.add_argument("-o", "--out", default=DEFAULT_CONFIG, help="where to write it (default: crabllm.toml)")
    init.add_argument("-f", "--force", action="store_true", help="overwrite an existing file")
    add_check_parser(sub, default_config=DEFAULT_CONFIG, parents=[verbose])
    add_tui_parser(sub, parents=[verbose])
    add_openapi_parser(sub)
    add_admin_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    verbosity = getattr(args, "verbose", 0)
    command = args.command or "serve"
    if command == "init":
        from crabllm.cli.init import run_init

        return run_init(args.out, force=args.force)
    if command == "tui":
        from tui.cli import run_tui

        return run_tui(args)
    if command == "check":
        from crabllm.cli.check import run_check

        return run_check(args.config)
    if command == "openapi":
        from crabllm.cli.openapi import run_openapi

        return run_openapi(args)
    if getattr(args, "admin_action", None):
        from crabllm.cli.admin import run_admin

        return run_admin(args)
    from crabllm.cli.serve import run_serve

    return run_serve(getattr(args, "config", DEFAULT_CONFIG), getattr(args, "bind", None), verbosity,
                     getattr(args, "workers", 1), getattr(args, "insecure", False))


if __name__ == "__main__":
    sys.exit(main())
