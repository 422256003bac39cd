"""A scripted fake OpenAI upstream on 127.0.0.1 that records what it received."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Received:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Script:
    """One scripted answer. Unset fields fall back to a normal successful reply."""

    status: int = 200
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    chunks: list[bytes] | None = None  # raw SSE bytes to stream, in order
    chunk_delay: float = 0.0
    cut_after: int | None = None  # close the connection after this many chunks
    first_delay: float = 0.0  # pause between the stream's headers and its first chunk
    reset_after_bytes: int | None = None  # non-stream: send the headers (full Content-Length) and this many body bytes, then close


def chat_reply(model: str, content: str = "Hello from the fake upstream.", usage: tuple[int, int] = (11, 7),
               **extra: Any) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake", "object": "chat.completion", "created": 1700000000, "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": usage[0], "completion_tokens": usage[1], "total_tokens": sum(usage)},
        **extra,
    }


def sse(obj: Any) -> bytes:
    return b"data: " + json.dumps(obj).encode() + b"\n\n"


def stream_chunks(model: str, pieces: list[str], usage: tuple[int, int] | None = (11, 7)) -> list[bytes]:
    head = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1700000000, "model": model}
    out = []
    for i, piece in enumerate(pieces):
        delta = {"role": "assistant", "content": piece} if i == 0 else {"content": piece}
        out.append(sse({**head, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}))
    out.append(sse({**head, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}))
    if usage is not None:
        out.append(sse({**head, "choices": [],
                        "usage": {"prompt_tokens": usage[0], "completion_tokens": usage[1], "total_tokens": sum(usage)}}))
    out.append(b"data: [DONE]\n\n")
    return out


class FakeOpenAI:
    """Runs in its own thread and event loop, so synchronous SDK clients can call through a gateway."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.scripts: dict[str, list[Script]] = {}
        #: model -> the answer every request for that model gets, whatever the path (a model that is down).
        self.model_answers: dict[str, Script] = {}
        self.default_reply: dict[str, Any] | None = None
        self.cancelled = 0
        self.active = 0  # requests being answered right now (streams until their last byte)
        self.max_active = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self.port = 0
        self._lock = threading.Lock()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def script(self, path: str, *scripts: Script) -> None:
        """Queue answers for a path like '/v1/chat/completions'; each request takes the next one."""
        with self._lock:
            self.scripts.setdefault(path, []).extend(scripts)

    def answer_model(self, model: str, script: Script | None) -> None:
        """Answer every request for `model` with `script` (None: back to normal)."""
        with self._lock:
            if script is None:
                self.model_answers.pop(model, None)
            else:
                self.model_answers[model] = script

    def requests(self, path: str | None = None) -> list[Received]:
        with self._lock:
            return [r for r in self.received if path is None or r.path == path]

    def start(self) -> FakeOpenAI:
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            app = web.Application(client_max_size=256 * 1024 * 1024)
            app.router.add_route("*", "/{tail:.*}", self._handle)
            self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
            loop.run_until_complete(self._runner.setup())
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            loop.run_until_complete(site.start())
            self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        rec = Received(request.method, request.path, request.query_string, dict(request.headers), body)
        with self._lock:
            self.received.append(rec)
            fixed = self.model_answers and self.model_answers.get(_model_of(rec))
            if fixed:
                script = fixed
            else:
                queue = self.scripts.get(request.path)
                script = queue.pop(0) if queue else Script()
        with self._lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        try:
            return await self._answer(request, rec, script)
        except (asyncio.CancelledError, ConnectionResetError):
            # The caller (the gateway) went away mid-answer.
            with self._lock:
                self.cancelled += 1
            raise
        finally:
            with self._lock:
                self.active -= 1

    async def _answer(self, request: web.Request, rec: Received, script: Script) -> web.StreamResponse:
        if script.delay:
            await asyncio.sleep(script.delay)
        if script.reset_after_bytes is not None:
            return await self._cut_short(request, script, rec)
        if script.status != 200 or script.body is not None:
            return web.Response(status=script.status, body=script.body or b"", headers=script.headers,
                                content_type=None if "Content-Type" in script.headers else "application/json")
        try:
            payload = rec.json()
        except ValueError:
            payload = {}
        model = payload.get("model", "unknown") if isinstance(payload, dict) else "unknown"
        if request.path.endswith("/models"):
            return web.json_response({"object": "list", "data": [{"id": "fake-a", "object": "model"},
                                                                  {"id": "fake-b", "object": "model"}]})
        if request.path.endswith("/embeddings"):
            inputs = payload.get("input", [])
            inputs = [inputs] if isinstance(inputs, str) else inputs
            return web.json_response({"object": "list", "model": model, "usage": {"prompt_tokens": 5, "total_tokens": 5},
                                      "data": [{"object": "embedding", "index": i, "embedding": [0.1, 0.2, 0.3]}
                                               for i in range(len(inputs))]})
        if payload.get("stream") or script.chunks is not None:
            return await self._stream(request, script, model, payload)
        return web.json_response(self.default_reply or chat_reply(model), headers=script.headers)

    async def _cut_short(self, request: web.Request, script: Script, rec: Received) -> web.StreamResponse:
        try:
            model = rec.json().get("model", "unknown")
        except (ValueError, AttributeError):
            model = "unknown"
        body = script.body if script.body is not None else json.dumps(chat_reply(model)).encode()
        resp = web.StreamResponse(status=script.status, headers={"Content-Type": "application/json", **script.headers})
        resp.content_length = len(body)
        await resp.prepare(request)
        if script.reset_after_bytes:
            await resp.write(body[: script.reset_after_bytes])
        assert request.transport is not None
        request.transport.close()
        return resp

    async def _stream(self, request: web.Request, script: Script, model: str, payload: dict[str, Any]) -> web.StreamResponse:
        chunks = script.chunks
        if chunks is None:
            wants_usage = bool((payload.get("stream_options") or {}).get("include_usage"))
            chunks = stream_chunks(model, ["Hello", " from", " the", " fake", " upstream."], (11, 7) if wants_usage else None)
        resp = web.StreamResponse(status=200, headers={"Content-Type": "text/event-stream", **script.headers})
        await resp.prepare(request)
        if script.first_delay:
            await asyncio.sleep(script.first_delay)
        for i, chunk in enumerate(chunks):
            if script.cut_after is not None and i >= script.cut_after:
                assert request.transport is not None
                request.transport.close()
                return resp
            if i and script.chunk_delay:
                await asyncio.sleep(script.chunk_delay)
            await resp.write(chunk)
        await resp.write_eof()
        return resp


def _model_of(rec: Received) -> str:
    try:
        payload = rec.json()
    except ValueError:
        return ""
    return str(payload.get("model", "")) if isinstance(payload, dict) else ""


def wait_for(predicate: Any, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()
