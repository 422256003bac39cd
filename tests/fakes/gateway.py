"""Run the real gateway (uvicorn + the Litestar app) on a loopback port in a background thread."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from crabllm.config.loader import load_config
from crabllm.server.app import create_app


class GatewayServer:
    """A real server on 127.0.0.1:<free port>, started from a config file."""

    def __init__(self, config_path: Path, *, seed: int | None = 1234, port: int = 0,
                 wrap: Callable[[Any], Any] | None = None) -> None:
        self.config_path = config_path
        self.seed = seed
        self.wrap = wrap  # an ASGI middleware around the app, e.g. to record what clients sent
        # proto=IPPROTO_TCP: asyncio turns Nagle off only on sockets that say they are TCP, and with
        # it on every small answer waits ~40 ms for the client's delayed ACK.
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        # So a server can be restarted on the same port (`port=`) while the old one's connections linger.
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(512)
        self.port = self.sock.getsockname()[1]
        self.server: uvicorn.Server | None = None
        self.thread: threading.Thread | None = None
        self.app = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> GatewayServer:
        config = load_config(self.config_path)
        self.app = create_app(str(self.config_path), config, seed=self.seed)
        app = self.wrap(self.app) if self.wrap is not None else self.app
        uv = uvicorn.Config(app, loop="asyncio", http="httptools", lifespan="on", access_log=False,
                            log_config=None, timeout_graceful_shutdown=5)
        self.server = uvicorn.Server(uv)
        self.server.install_signal_handlers = lambda: None  # type: ignore[method-assign]

        def run() -> None:
            asyncio.run(self.server.serve(sockets=[self.sock]))  # type: ignore[union-attr]

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("gateway did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.should_exit = True
            if self.app is not None:
                self.app.begin_shutdown()
        if self.thread is not None:
            self.thread.join(10)
        self.sock.close()

    def client(self, key: str | None = None, **kw: object) -> httpx.Client:
        headers = {"authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=10, **kw)  # type: ignore[arg-type]
