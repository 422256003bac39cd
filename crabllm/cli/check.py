"""`crabllm check`: validate a config offline and print every problem with its TOML path."""

from __future__ import annotations

import argparse
import sys


def add_check_parser(subparsers: argparse._SubParsersAction, *, default_config: str,  # type: ignore[type-arg]
                     parents: list[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "check", parents=parents, help="validate a config offline and list every problem",
        description="Validate a config the way `serve` does (schema, environment variables, aliases, pricing, "
                    "storage URL, provider fields) and print every problem with its TOML path. Opens no storage, "
                    "binds no socket and calls no upstream. Exit 0 when valid, 1 on any problem.")
    p.add_argument("-c", "--config", default=default_config, help=f"config file (default: {default_config})")


def run_check(config_path: str) -> int:
    from crabllm.config.loader import check_config

    config, problems = check_config(config_path)
    if problems or config is None:
        for problem in problems:
            print(f"error: {problem}", file=sys.stderr)
        count = len(problems)
        print(f"{config_path}: {count} problem{'s' if count != 1 else ''}", file=sys.stderr)
        return 1
    models = {m for p in config.providers.values() for m in p.models}
    print(f"ok: {config_path}: {_n(len(config.providers), 'provider')}, {_n(len(models), 'model')}, "
          f"{_n(len(config.keys), 'key')}")
    return 0


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"
