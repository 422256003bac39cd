"""The app factory each `serve --workers N` process runs: it configures itself from the environment."""

from __future__ import annotations

import os

from litestar import Litestar

from crabllm.cli.logs import setup_logging
from crabllm.server.app import create_app


def worker_app() -> Litestar:
    setup_logging(int(os.environ.get("CRABLLM_VERBOSITY", "0")))
    return create_app(os.environ["CRABLLM_CONFIG"])
