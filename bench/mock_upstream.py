"""Fast mock OpenAI/Anthropic/Gemini/Bedrock upstream for the benchmark (raw asyncio + uvloop + httptools)."""

# Endpoints (the /v1 prefix is optional; the requested model name is echoed back):
#   POST /v1/chat/completions  JSON with usage; "stream": true -> --chunks SSE chunks, a usage chunk
#                              when stream_options.include_usage, then data: [DONE]
#   POST /v1/embeddings        one --embed-dim vector per input, with usage
#   GET  /v1/models            model list
#   POST /v1/messages          Anthropic Messages (plain and streaming)
#   POST /v1/responses         OpenAI Responses object; "stream": true -> the Responses SSE event sequence
#                              (created ... --chunks output_text.delta ... completed with usage)
#   POST /v1beta/models/M:generateContent, :streamGenerateContent?alt=sse   Gemini (--chunks SSE chunks)
#   POST /model/ID/converse, /model/ID/converse-stream   Bedrock Converse (JSON / AWS event-stream frames)
# A model name containing "slow" gets --slow-delay-ms per stream chunk and --slow-latency-ms for
# non-stream replies; one containing "long" streams --long-chunks chunks at --long-delay-ms each (the
# many-open-streams scenario: 40 x 250 ms). The mock raises its own open-file limit (10,000+ streams). --error-rate answers that fraction of POSTs with a 500 (evenly spread).
# Standalone on purpose (the runner starts it by path): it imports nothing from the project (only its
# sibling mock_formats.py, which builds the Responses/Gemini/Bedrock bodies once).

from __future__ import annotations

import argparse
import asyncio
from dataclasses import dataclass, field
from typing import Any

import httptools
import msgspec

try:
    from bench import mock_formats as fmt
except ImportError:  # started by path: bench/ itself is on sys.path
    import mock_formats as fmt  # type: ignore[no-redef]

MODELS = ("mock-gpt", "mock-gpt-slow", "mock-gpt-long", "mock-embed", "mock-claude")
SSE_HEAD = (b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n"
            b"transfer-encoding: chunked\r\n\r\n")
EVENTSTREAM_HEAD = (b"HTTP/1.1 200 OK\r\ncontent-type: application/vnd.amazon.eventstream\r\n"
                    b"transfer-encoding: chunked\r\n\r\n")
REASONS = {200: b"OK", 400: b"Bad Request", 404: b"Not Found", 500: b"Internal Server Error"}


def http_response(status: int, body: bytes, ctype: bytes = b"application/json") -> bytes:
    """A complete HTTP/1.1 keep-alive response."""
    return b"".join([b"HTTP/1.1 %d %s\r\n" % (status, REASONS.get(status, b"OK")),
                     b"content-type: ", ctype, b"\r\ncontent-length: %d\r\n\r\n" % len(body), body])


def chunk(data: bytes) -> bytes:
    """One HTTP chunked-encoding frame."""
    return b"%x\r\n%s\r\n" % (len(data), data)


NOT_FOUND = http_response(404, b'{"error":{"message":"not found","type":"invalid_request_error"}}')
BAD_REQUEST = http_response(400, b'{"error":{"message":"bad json","type":"invalid_request_error"}}')
SERVER_ERROR = http_response(500, b'{"error":{"message":"mock upstream error","type":"server_error"}}')


@dataclass
class Settings:
    """What the mock answers and how fast."""

    chunks: int = 20
    delay_ms: float = 0.0
    latency_ms: float = 0.0
    embed_dim: int = 1536
    slow_delay_ms: float = 10.0
    slow_latency_ms: float = 200.0
    error_rate: float = 0.0
    long_chunks: int = 40
    long_delay_ms: float = 250.0


@dataclass
class Mock:
    """Canned responses, built once per (kind, model) and cached as ready-to-write bytes."""

    s: Settings
    cache: dict[tuple[Any, ...], Any] = field(default_factory=dict)
    n_posts: int = 0
    n_errors: int = 0

    def should_fail(self) -> bool:
        """Spread --error-rate evenly: fail when the running error count falls behind the quota."""
        self.n_posts += 1
        if self.s.error_rate > 0 and self.n_errors < int(self.n_posts * self.s.error_rate):
            self.n_errors += 1
            return True
        return False

    def chat(self, model: str) -> bytes:
        key = ("chat", model)
        if key not in self.cache:
            self.cache[key] = http_response(200, msgspec.json.encode({
                "id": "chatcmpl-mock123", "object": "chat.completion", "created": 1700000000,
                "model": model, "system_fingerprint": "fp_mock",
                "choices": [{"index": 0, "message": {
                    "role": "assistant",
                    "content": "This is a canned mock answer from the benchmark upstream. " * 3},
                    "logprobs": None, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 12, "completion_tokens": 36, "total_tokens": 48}}))
        return self.cache[key]

    def chat_stream(self, model: str, include_usage: bool) -> list[bytes]:
        key = ("chat-stream", model, include_usage)
        if key not in self.cache:
            n = self.s.long_chunks if "long" in model else self.s.chunks
            base = {"id": "chatcmpl-mock123", "object": "chat.completion.chunk",
                    "created": 1700000000, "model": model, "system_fingerprint": "fp_mock"}
            events = []
            for i in range(n):
                delta = {"role": "assistant", "content": ""} if i == 0 else {"content": f"tok{i} "}
                ev = dict(base, choices=[{"index": 0, "delta": delta, "logprobs": None,
                                          "finish_reason": "stop" if i == n - 1 else None}])
                events.append(b"data: " + msgspec.json.encode(ev) + b"\n\n")
            if include_usage:
                ev = dict(base, choices=[], usage={"prompt_tokens": 12, "completion_tokens": n,
                                                   "total_tokens": 12 + n})
                events.append(b"data: " + msgspec.json.encode(ev) + b"\n\n")
            events.append(b"data: [DONE]\n\n")
            self.cache[key] = [chunk(e) for e in events]
        return self.cache[key]

    def anthropic(self, model: str) -> bytes:
        key = ("messages", model)
        if key not in self.cache:
            self.cache[key] = http_response(200, msgspec.json.encode({
                "id": "msg_mock123", "type": "message", "role": "assistant", "model": model,
                "content": [{"type": "text",
                             "text": "This is a canned mock answer from the benchmark upstream."}],
                "stop_reason": "end_turn", "stop_sequence": None,
                "usage": {"input_tokens": 12, "output_tokens": 36}}))
        return self.cache[key]

    def anthropic_stream(self, model: str) -> list[bytes]:
        key = ("messages-stream", model)
        if key not in self.cache:
            def ev(name: bytes, obj: dict[str, Any]) -> bytes:
                return b"event: " + name + b"\ndata: " + msgspec.json.encode(obj) + b"\n\n"

            n = self.s.chunks
            events = [
                ev(b"message_start", {"type": "message_start", "message": {
                    "id": "msg_mock123", "type": "message", "role": "assistant", "model": model,
                    "content": [], "stop_reason": None, "stop_sequence": None,
                    "usage": {"input_tokens": 12, "output_tokens": 1}}}),
                ev(b"content_block_start", {"type": "content_block_start", "index": 0,
                                            "content_block": {"type": "text", "text": ""}})]
            events += [ev(b"content_block_delta", {"type": "content_block_delta", "index": 0,
                                                   "delta": {"type": "text_delta", "text": f"tok{i} "}})
                       for i in range(n)]
            events += [ev(b"content_block_stop", {"type": "content_block_stop", "index": 0}),
                       ev(b"message_delta", {"type": "message_delta",
                                             "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                                             "usage": {"output_tokens": n}}),
                       ev(b"message_stop", {"type": "message_stop"})]
            self.cache[key] = [chunk(e) for e in events]
        return self.cache[key]

    def canned(self, key: tuple[Any, ...], build: Any, stream: bool) -> Any:
        """A body built once by `build()`: a full response, or (stream) a list of HTTP chunk frames."""
        if key not in self.cache:
            self.cache[key] = [chunk(e) for e in build()] if stream else http_response(200, build())
        return self.cache[key]

    def responses(self, model: str, stream: bool) -> Any:
        if stream:
            return self.canned(("responses-stream", model), lambda: fmt.responses_events(model, self.s.chunks), True)
        return self.canned(("responses", model), lambda: fmt.responses_json(model), False)

    def gemini(self, model: str, stream: bool) -> Any:
        if stream:
            return self.canned(("gemini-stream", model), lambda: fmt.gemini_events(model, self.s.chunks), True)
        return self.canned(("gemini", model), lambda: fmt.gemini_json(model), False)

    def bedrock(self, stream: bool) -> Any:
        if stream:
            return self.canned(("bedrock-stream",), lambda: fmt.bedrock_frames(self.s.chunks), True)
        return self.canned(("bedrock",), fmt.bedrock_json, False)

    def embeddings(self, model: str, n_inputs: int) -> bytes:
        key = ("embed", model, n_inputs)
        if key not in self.cache:
            vec = [round(((i * 7919) % 1000) / 1000.0 - 0.5, 6) for i in range(self.s.embed_dim)]
            self.cache[key] = http_response(200, msgspec.json.encode({
                "object": "list", "model": model,
                "data": [{"object": "embedding", "index": i, "embedding": vec} for i in range(n_inputs)],
                "usage": {"prompt_tokens": 8 * n_inputs, "total_tokens": 8 * n_inputs}}))
        return self.cache[key]

    def models(self) -> bytes:
        if "models" not in self.cache:
            self.cache["models"] = http_response(200, msgspec.json.encode({"object": "list", "data": [
                {"id": m, "object": "model", "created": 1700000000, "owned_by": "mock"} for m in MODELS]}))
        return self.cache["models"]


class Conn(asyncio.Protocol):
    """One client connection; requests pipelined behind a delayed reply wait in a queue."""

    def __init__(self, mock: Mock) -> None:
        self.mock = mock
        self.t: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.url = b""
        self.body: list[bytes] = []
        self.queue: list[tuple[bytes, bytes, bytes, bool]] = []
        self.busy = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.t = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.t = None

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except Exception:
            if self.t is not None:
                self.t.close()

    def on_message_begin(self) -> None:
        self.url = b""
        self.body = []

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        req = (self.parser.get_method(), self.url, b"".join(self.body), self.parser.should_keep_alive())
        if self.busy:
            self.queue.append(req)
        else:
            self.handle(*req)

    def handle(self, method: bytes, url: bytes, body: bytes, keep_alive: bool) -> None:
        if self.t is None:
            return
        path = url.split(b"?", 1)[0]
        if path.startswith(b"/v1/"):
            path = path[3:]
        m = self.mock
        if method == b"GET" and path == b"/models":
            self.t.write(m.models())
        elif method == b"POST" and path in (b"/chat/completions", b"/messages", b"/embeddings", b"/responses"):
            self.post(path, body)
        elif method == b"POST" and (b":" in path or path.startswith(b"/model/")):
            self.post_native(path, body)
        else:
            self.t.write(NOT_FOUND)
        if not keep_alive and not self.busy and self.t is not None:
            self.t.close()

    def post(self, path: bytes, body: bytes) -> None:
        m, s = self.mock, self.mock.s
        try:
            req = msgspec.json.decode(body) if body else {}
        except msgspec.DecodeError:
            self.t.write(BAD_REQUEST)  # type: ignore[union-attr]
            return
        if m.should_fail():
            self.t.write(SERVER_ERROR)  # type: ignore[union-attr]
            return
        model = str(req.get("model") or "mock")
        slow = "slow" in model
        latency = s.slow_latency_ms if slow else s.latency_ms
        if path == b"/embeddings":
            inp = req.get("input")
            n = len(inp) if isinstance(inp, list) and inp and not isinstance(inp[0], int) else 1
            self.reply(m.embeddings(model, n), latency)
        elif req.get("stream"):
            if path == b"/messages":
                events = m.anthropic_stream(model)
            elif path == b"/responses":
                events = m.responses(model, True)
            else:
                opts = req.get("stream_options") or {}
                events = m.chat_stream(model, bool(opts.get("include_usage")))
            delay = s.long_delay_ms if "long" in model else (s.slow_delay_ms if slow else s.delay_ms)
            self.stream(events, delay, SSE_HEAD)
        elif path == b"/responses":
            self.reply(m.responses(model, False), latency)
        else:
            self.reply(m.anthropic(model) if path == b"/messages" else m.chat(model), latency)

    def post_native(self, path: bytes, body: bytes) -> None:
        """Gemini /v1beta/models/M:op and Bedrock /model/ID/op: the model and stream-ness are in the URL."""
        m, s = self.mock, self.mock.s
        try:
            msgspec.json.decode(body) if body else None
        except msgspec.DecodeError:
            self.t.write(BAD_REQUEST)  # type: ignore[union-attr]
            return
        if m.should_fail():
            self.t.write(SERVER_ERROR)  # type: ignore[union-attr]
            return
        if path.startswith(b"/model/"):
            parts = path.split(b"/")  # ["", "model", ID, op]
            if len(parts) != 4 or parts[3] not in (b"converse", b"converse-stream"):
                self.t.write(NOT_FOUND)  # type: ignore[union-attr]
                return
            model, stream, head = parts[2].decode(), parts[3] == b"converse-stream", EVENTSTREAM_HEAD
            data = m.bedrock(stream)
        else:
            name, _, op = path.rpartition(b"/")[2].partition(b":")
            if op not in (b"generateContent", b"streamGenerateContent"):
                self.t.write(NOT_FOUND)  # type: ignore[union-attr]
                return
            model, stream, head = name.decode(), op == b"streamGenerateContent", SSE_HEAD
            data = m.gemini(model, stream)
        slow = "slow" in model
        if stream:
            self.stream(data, s.slow_delay_ms if slow else s.delay_ms, head)
        else:
            self.reply(data, s.slow_latency_ms if slow else s.latency_ms)

    def stream(self, events: list[bytes], delay_ms: float, head: bytes) -> None:
        if delay_ms <= 0:
            self.t.write(head + b"".join(events) + b"0\r\n\r\n")  # type: ignore[union-attr]
        else:
            self.busy = True
            self.t.write(head)  # type: ignore[union-attr]
            Drip(self, events, delay_ms / 1000.0).next()

    def reply(self, data: bytes, latency_ms: float) -> None:
        if latency_ms <= 0:
            self.t.write(data)  # type: ignore[union-attr]
        else:
            self.busy = True
            asyncio.get_running_loop().call_later(latency_ms / 1000.0, self.delayed, data)

    def delayed(self, data: bytes) -> None:
        if self.t is not None:
            self.t.write(data)
        self.done()

    def done(self) -> None:
        self.busy = False
        while self.queue and not self.busy:
            self.handle(*self.queue.pop(0))



class Drip:
    """One delayed stream: each chunk written delay_s after the previous one, by a timer callback
    (no task or coroutine per stream, so one core drips 10,000 streams at 4 chunks/s)."""

    __slots__ = ("conn", "events", "delay", "i", "loop")

    def __init__(self, conn: Conn, events: list[bytes], delay_s: float) -> None:
        self.conn, self.events, self.delay, self.i = conn, events, delay_s, 0
        self.loop = asyncio.get_running_loop()

    def next(self) -> None:
        self.loop.call_later(self.delay, self.step)

    def step(self) -> None:
        t = self.conn.t
        if t is None:
            return
        t.write(self.events[self.i])
        self.i += 1
        if self.i < len(self.events):
            self.next()
            return
        t.write(b"0\r\n\r\n")
        self.conn.done()


def raise_nofile(want: int = 65536) -> int:
    """Raise this process's open-file limit (hard too, when allowed: root); returns the soft limit."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    for lim in ((max(want, hard), max(want, hard)), (hard, hard)):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, lim)
            return lim[0]
        except (ValueError, OSError):
            continue
    return soft


async def serve(host: str, port: int, s: Settings) -> None:
    """Serve forever on host:port."""
    mock = Mock(s)
    loop = asyncio.get_running_loop()
    srv = await loop.create_server(lambda: Conn(mock), host, port, backlog=4096, reuse_address=True)
    print(f"mock upstream on http://{host}:{port} {s}", flush=True)
    async with srv:
        await srv.serve_forever()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Fast mock OpenAI/Anthropic/Gemini/Bedrock upstream (loopback only).")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=9000)
    ap.add_argument("--chunks", type=int, default=20, help="SSE content chunks per stream")
    ap.add_argument("--delay-ms", type=float, default=0.0, help="delay before each stream chunk")
    ap.add_argument("--latency-ms", type=float, default=0.0, help="delay of non-stream replies")
    ap.add_argument("--embed-dim", type=int, default=1536)
    ap.add_argument("--slow-delay-ms", type=float, default=10.0, help="per chunk, models named *slow*")
    ap.add_argument("--slow-latency-ms", type=float, default=200.0, help="non-stream, models named *slow*")
    ap.add_argument("--error-rate", type=float, default=0.0, help="fraction of POSTs answered 500")
    ap.add_argument("--long-chunks", type=int, default=40, help="stream chunks, models named *long*")
    ap.add_argument("--long-delay-ms", type=float, default=250.0, help="per chunk, models named *long*")
    a = ap.parse_args(argv)
    if a.host not in ("127.0.0.1", "localhost", "::1"):
        ap.error("loopback only")
    s = Settings(a.chunks, a.delay_ms, a.latency_ms, a.embed_dim, a.slow_delay_ms, a.slow_latency_ms,
                 a.error_rate, a.long_chunks, a.long_delay_ms)
    raise_nofile()
    try:
        import uvloop
        uvloop.run(serve(a.host, a.port, s))
    except ImportError:
        asyncio.run(serve(a.host, a.port, s))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
