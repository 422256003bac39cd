"""What the benchmark sends (scenario bodies) and the gateway configs it runs crabllm with."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

BENCH_KEY = "sk-bench-0123456789abcdef0123456789abcdef"
AUTH = {"authorization": f"Bearer {BENCH_KEY}"}
UNIQUE = "__UNIQUE_0000000__"  # replaced per request by a counter of the same width (cache misses)
MSG = [{"role": "user", "content": "Say hello to the benchmark."}]


@dataclass(frozen=True)
class Scenario:
    """One request shape."""

    name: str
    path: str
    body: dict[str, object]
    stream: bool = False
    unique: bool = False
    note: str = ""
    #: direct sends this scenario in its place: what the gateway sends upstream (the Δ baseline)
    upstream: str = ""
    #: bytes that end a complete stream when they are neither [DONE] nor message_stop
    end: str = ""
    #: selectable step group in run.py (--only): "" = the core plan
    group: str = ""

    def body_bytes(self) -> bytes:
        return json.dumps(self.body, separators=(",", ":")).encode()


def large_body() -> dict[str, object]:
    """50 messages and 10 tools (~25 KB): the gateway must move a big body without copying it."""
    msgs: list[dict[str, object]] = [{"role": "system", "content": "You are a meticulous assistant. " * 8}]
    for i in range(49):
        role = "user" if i % 2 == 0 else "assistant"
        msgs.append({"role": role, "content": f"Message {i}: " + "lorem ipsum dolor sit amet " * 12})
    tools = [{"type": "function", "function": {
        "name": f"tool_{i}", "description": f"Tool number {i} that does something useful " * 2,
        "parameters": {"type": "object", "properties": {
            "query": {"type": "string", "description": "what to look up"},
            "limit": {"type": "integer", "minimum": 1, "maximum": 100},
            "filters": {"type": "array", "items": {"type": "string"}}},
            "required": ["query"]}}} for i in range(10)]
    return {"model": "mock-gpt", "messages": msgs, "tools": tools, "max_tokens": 64}


CHAT_ONLY = "mock-chatonly"  # served by an OpenAI-compatible provider with `responses = false`
TEXT = MSG[0]["content"]


def paths_scenarios() -> list[Scenario]:
    """Issue 12 (/v1/responses, pass-through and translated) and issue 14 (translated paths), plus what
    direct sends in their place: the upstream-format request the gateway makes for each."""
    resp = {"model": "mock-gpt", "input": TEXT, "max_output_tokens": 64, "store": False}
    tr, st = {"model": CHAT_ONLY, "input": TEXT, "max_output_tokens": 64, "store": False}, {"stream": True}
    msgs = {"model": "mock-gpt", "messages": MSG, "max_tokens": 64}
    claude = {"model": "mock-claude", "messages": MSG, "max_tokens": 64}
    chat = {"messages": MSG, "max_tokens": 64}
    usage = {"stream": True, "stream_options": {"include_usage": True}}
    gem = {"contents": [{"role": "user", "parts": [{"text": TEXT}]}], "generationConfig": {"maxOutputTokens": 64}}
    bed = {"messages": [{"role": "user", "content": [{"text": TEXT}]}], "inferenceConfig": {"maxTokens": 64}}
    done = "response.completed"
    r, t = "responses", "translated"
    return [
        Scenario("responses", "/v1/responses", resp, group=r, note="/v1/responses pass-through (native upstream)"),
        Scenario("responses_stream", "/v1/responses", {**resp, **st}, stream=True, end=done, group=r,
                 note="/v1/responses stream pass-through: 20 output_text.delta events"),
        Scenario("responses_tr", "/v1/responses", tr, upstream="chat", group=r,
                 note="/v1/responses translated to chat (`responses = false`) and back"),
        Scenario("responses_tr_stream", "/v1/responses", {**tr, **st}, stream=True, end=done, upstream="stream",
                 group=r, note="/v1/responses stream translated from 20 chat chunks"),
        Scenario("messages_oai", "/v1/messages", msgs, upstream="chat", group=t,
                 note="/v1/messages to an OpenAI-format upstream"),
        Scenario("messages_oai_stream", "/v1/messages", {**msgs, "stream": True}, stream=True, upstream="stream",
                 group=t, note="/v1/messages stream from 20 OpenAI chunks"),
        Scenario("chat_anthropic", "/v1/chat/completions", claude, upstream="anthropic_native", group=t,
                 note="chat to an Anthropic upstream"),
        Scenario("chat_anthropic_stream", "/v1/chat/completions", {**claude, **usage}, stream=True,
                 upstream="anthropic_native_stream", group=t, note="chat stream from 20 Anthropic deltas"),
        Scenario("chat_gemini", "/v1/chat/completions", {"model": "mock-gemini", **chat},
                 upstream="gemini_native", group=t, note="chat to a Gemini upstream (generateContent)"),
        Scenario("chat_gemini_stream", "/v1/chat/completions", {"model": "mock-gemini", **chat, **usage},
                 stream=True, upstream="gemini_native_stream", group=t,
                 note="chat stream from 20 Gemini SSE chunks (streamGenerateContent?alt=sse)"),
        Scenario("chat_bedrock", "/v1/chat/completions", {"model": "mock-bedrock", **chat},
                 upstream="bedrock_native", group=t, note="chat to Bedrock Converse (SigV4 signed)"),
        Scenario("chat_bedrock_stream", "/v1/chat/completions", {"model": "mock-bedrock", **chat, **usage},
                 stream=True, upstream="bedrock_native_stream", group=t,
                 note="chat stream from 20 Bedrock event-stream frames (ConverseStream)"),
        # direct only: the upstream-format requests
        Scenario("anthropic_native", "/v1/messages", claude, note="Anthropic Messages, sent to the mock"),
        Scenario("anthropic_native_stream", "/v1/messages", {**claude, "stream": True}, stream=True,
                 note="Anthropic Messages stream, sent to the mock"),
        Scenario("gemini_native", "/v1beta/models/mock-gemini:generateContent", gem,
                 note="Gemini generateContent, sent to the mock"),
        Scenario("gemini_native_stream", "/v1beta/models/mock-gemini:streamGenerateContent?alt=sse", gem,
                 stream=True, end="finishReason", note="Gemini streamGenerateContent, sent to the mock"),
        Scenario("bedrock_native", "/model/mock-bedrock/converse", bed, note="Bedrock Converse, sent to the mock"),
        Scenario("bedrock_native_stream", "/model/mock-bedrock/converse-stream", bed, stream=True,
                 end="messageStop", note="Bedrock ConverseStream, sent to the mock"),
    ]


SCENARIOS: Mapping[str, Scenario] = MappingProxyType({s.name: s for s in [
    Scenario("chat", "/v1/chat/completions", {"model": "mock-gpt", "messages": MSG, "max_tokens": 64},
             note="non-stream chat completion"),
    Scenario("stream", "/v1/chat/completions",
             {"model": "mock-gpt", "messages": MSG, "max_tokens": 64, "stream": True,
              "stream_options": {"include_usage": True}}, stream=True,
             note="20 SSE chunks + usage chunk + [DONE], no upstream delay"),
    Scenario("embed", "/v1/embeddings",
             {"model": "mock-embed", "input": "The quick brown fox jumps over the lazy dog"},
             note="one 1536-float embedding (~30 KB reply)"),
    Scenario("stream_slow", "/v1/chat/completions",
             {"model": "mock-gpt-slow", "messages": MSG, "max_tokens": 64, "stream": True,
              "stream_options": {"include_usage": True}}, stream=True,
             note="20 chunks x 10 ms upstream delay: ~210 ms streams, ~0.21 x rps open at once"),
    Scenario("large", "/v1/chat/completions", large_body(), note="50 messages + 10 tools (~25 KB body)"),
    Scenario("stream_long", "/v1/chat/completions",
             {"model": "mock-gpt-long", "messages": MSG, "max_tokens": 64, "stream": True,
              "stream_options": {"include_usage": True}}, stream=True,
             note="40 chunks + usage chunk + [DONE], each 250 ms apart (10.5 s): the many-open-streams group"),
    Scenario("chat_unique", "/v1/chat/completions",
             {"model": "mock-gpt", "messages": MSG, "max_tokens": 64, "user": UNIQUE}, unique=True,
             note="chat with a per-request unique field, so a response cache always misses"),
    Scenario("stream_unique", "/v1/chat/completions",
             {"model": "mock-gpt", "messages": MSG, "max_tokens": 64, "stream": True, "user": UNIQUE,
              "stream_options": {"include_usage": True}}, stream=True, unique=True,
             note="stream with a per-request unique field"),
    *paths_scenarios(),
]})
READY_SCENARIO = SCENARIOS["chat"]
#: --only groups: core (the issue-3 plan), the path groups (their scenarios carry `group`), and
#: streams (N open long streams, bench/streams_run.py), storage (all extensions on sqlite / redis),
#: workers (`--workers 2`): the last two are crabllm variants beside their baselines
PATH_GROUPS = ("responses", "translated")
GROUPS = ("core", *PATH_GROUPS, "streams", "storage", "workers")


def group_scenarios(group: str) -> list[str]:
    """The gateway-side scenarios of a step group (direct runs their `upstream` instead)."""
    return [s.name for s in SCENARIOS.values() if s.group == group]


def base_config(port: int, mock_port: int) -> str:
    """The plain bench config: the mock as an OpenAI provider (native /v1/responses), as a chat-only
    OpenAI-compatible one (Responses translated), and as Anthropic, Gemini and Bedrock; one key."""
    mock = f"http://127.0.0.1:{mock_port}"
    return f"""# generated by bench/run.py; rewritten at every start
listen = "127.0.0.1:{port}"

[providers.mock]
kind = "openai"
base_url = "{mock}/v1"
api_key = "sk-mock"
models = ["mock-gpt", "mock-gpt-slow", "mock-gpt-long", "mock-embed"]

[providers.chatonly]
kind = "openai"
base_url = "{mock}/v1"
api_key = "sk-mock"
responses = false
models = ["{CHAT_ONLY}"]

[providers.claude]
kind = "anthropic"
base_url = "{mock}"
api_key = "sk-ant-mock"
models = ["mock-claude"]

[providers.gemini]
kind = "google"
base_url = "{mock}/v1beta"
api_key = "AIza-mock"
models = ["mock-gemini"]

[providers.bedrock]
kind = "bedrock"
base_url = "{mock}"
region = "us-east-1"
access_key = "AKIDBENCHMOCK"
secret_key = "bench-mock-secret-key"
models = ["mock-bedrock"]

[[keys]]
name = "bench"
key = "{BENCH_KEY}"
models = ["*"]
"""


def extensions_config(port: int, mock_port: int, storage: str, redis_url: str, db_path: str) -> str:
    """Every extension on, limits far above the offered load, pricing set so budget does work."""
    store = f'path = "{db_path}"' if storage == "sqlite" else f'path = "{redis_url}"'
    return base_config(port, mock_port) + f"""
[models."mock-gpt".pricing]
prompt_cost_per_million = 0.01
completion_cost_per_million = 0.01

[extensions.rate_limit]
requests_per_minute = 100000000
tokens_per_minute = 1000000000

[extensions.usage]

[extensions.budget]
default_budget = 1000000.0

[extensions.cache]
ttl_seconds = 600

[extensions.audit]

[extensions.logging]

[storage]
kind = "{storage}"
{store}
"""


def workers_config(port: int, mock_port: int, db_path: str) -> str:
    """--workers N needs shared storage (the server refuses N > 1 with memory storage)."""
    return base_config(port, mock_port) + f"""
[storage]
kind = "sqlite"
path = "{db_path}"
"""
