"""Logging setup for the server: human-readable lines on stderr, level from -v or CRABLLM_LOG."""

from __future__ import annotations

import logging
import os
import sys
import time

LEVELS = {"error": logging.ERROR, "warn": logging.WARNING, "warning": logging.WARNING, "info": logging.INFO,
          "debug": logging.DEBUG, "trace": logging.DEBUG}


class _UTCFormatter(logging.Formatter):
    converter = time.gmtime

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        return time.strftime("%Y-%m-%dT%H:%M:%S", self.converter(record.created)) + f".{int(record.msecs):03d}Z"


def setup_logging(verbosity: int) -> None:
    """No -v: crabllm at info (or CRABLLM_LOG), others warn. -v info, -vv debug, -vvv debug incl. libraries."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_UTCFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    if verbosity >= 3:
        root.setLevel(logging.DEBUG)
        crab = logging.DEBUG
    elif verbosity == 2:
        root.setLevel(logging.INFO)
        crab = logging.DEBUG
    elif verbosity == 1:
        root.setLevel(logging.INFO)
        crab = logging.INFO
    else:
        root.setLevel(logging.WARNING)
        crab = LEVELS.get(os.environ.get("CRABLLM_LOG", "info").lower(), logging.INFO)
    logging.getLogger("crabllm").setLevel(crab)
    logging.getLogger("uvicorn.access").disabled = True
    if verbosity < 2:
        logging.getLogger("uvicorn.error").setLevel(logging.WARNING)
