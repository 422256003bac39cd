"""Shared by the client scripts (they run in the clients' own venv, never import crabllm or pytest)."""

from __future__ import annotations

import json
import sys
from typing import Any


def args() -> dict[str, Any]:
    return json.loads(sys.argv[1])


def emit(result: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()


def weather(city: str) -> str:
    """The scripted tool every Python client runs: its result must reach the upstream."""
    return f"sunny-and-19C in {city}"
