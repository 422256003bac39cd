"""What the bench mock answers: its settings and every canned body, built once per (kind, model) and
cached as ready-to-write HTTP bytes (the server itself is mock_upstream.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import msgspec

try:
    from bench import mock_formats as fmt
except ImportError:  # started by path: bench/ itself is on sys.path
    import mock_formats as fmt  # type: ignore[no-redef]

MODELS = ("mock-gpt", "mock-gpt-slow", "mock-gpt-long", "mock-embed", "mock-claude")
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
