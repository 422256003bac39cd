"""`crabllm init`: write the starter config and show its secrets once."""

from __future__ import annotations

import sys
from pathlib import Path

from crabllm.config.starter import write_starter
from crabllm.errors import ConfigError


def run_init(out: str, *, force: bool) -> int:
    try:
        admin_token, key = write_starter(Path(out), force=force)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print_secrets(out, admin_token, key)
    return 0


def print_secrets(path: str, admin_token: str, key: str) -> None:
    print(f"wrote {path}\n\nadmin token: {admin_token}\ndefault key: {key}\n\n"
          "these values are also in the config file above; keep them safe.", file=sys.stderr)
