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

import httptools
import msgspec

try:
    from bench.mock_answers import BAD_REQUEST, NOT_FOUND, SERVER_ERROR, Mock, Settings
    from bench.procs import raise_nofile
except ImportError:  # started by path: bench/ itself is on sys.path
    from mock_answers import BAD_REQUEST, NOT_FOUND, SERVER_ERROR, Mock, Settings  # type: ignore[no-redef]
    from procs import raise_nofile  # type: ignore[no-redef]

SSE_HEAD = (b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n"
            b"transfer-encoding: chunked\r\n\r\n")
EVENTSTREAM_HEAD = (b"HTTP/1.1 200 OK\r\ncontent-type: application/vnd.amazon.eventstream\r\n"
                    b"transfer-encoding: chunked\r\n\r\n")



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
    raise_nofile(65536)
    try:
        import uvloop
        uvloop.run(serve(a.host, a.port, s))
    except ImportError:
        asyncio.run(serve(a.host, a.port, s))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
