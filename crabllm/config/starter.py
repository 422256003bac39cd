"""The commented starter config written by `crabllm init` and by the first `crabllm serve`."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from crabllm.errors import ConfigError

TEMPLATE = '''# crabllm gateway configuration. Edits are picked up by a restart (live reload comes later).
# Full reference: README.md, "Configuration reference".

listen = "127.0.0.1:5632"

# Guards the admin API. Keep it secret; it is not an API key.
admin_token = "{admin_token}"

# openapi = true

# Virtual keys your applications send as "Authorization: Bearer <key>" (or "x-api-key").
# `models` is an allow-list; ["*"] allows every model. `key_sha256 = "<hex>"` stores only a digest.
[[keys]]
name = "default"
key = "{default_key}"
models = ["*"]

# The built-in mock upstream answers locally (it echoes your last message), so the first request
# works with no upstream account. Replace or extend it with real providers below.
[providers.mock]
kind = "mock"
models = ["mock-gpt", "mock-embed"]
# mock_reply = "a fixed answer"    # default: echo the last user message
# mock_chunks = 8                  # SSE chunks per streamed answer
# mock_chunk_delay_ms = 0          # pause between streamed chunks
# mock_latency_ms = 0              # pause before answering

# [providers.openai]
# kind = "openai"
# api_key = "${{OPENAI_API_KEY}}"          # ${{VAR}} and ${{VAR:-default}} read the environment
# models = ["gpt-4o", "gpt-4o-mini", "text-embedding-3-small"]
# weight = 1                              # share of traffic among providers of the same model
# max_retries = 2                         # retries on 429/5xx/timeouts before falling back
# timeout = 30                            # seconds per attempt (0 = none)

# [providers.local]
# kind = "ollama"                         # default base_url http://localhost:11434/v1
# models = ["llama3.2"]

# [providers.azure]
# kind = "azure"
# base_url = "https://my-resource.openai.azure.com"
# api_key = "${{AZURE_OPENAI_API_KEY}}"
# api_version = "2024-10-21"
# models = ["gpt-4o"]                     # deployment names

# [providers.groq]
# kind = "groq"                           # any other kind: an OpenAI-compatible service
# base_url = "https://api.groq.com/openai/v1"
# api_key = "${{GROQ_API_KEY}}"
# models = ["llama-3.3-70b-versatile"]

# [aliases]
# gpt = "mock-gpt"                        # clients may ask for "gpt"; upstream sees "mock-gpt"

# [models."gpt-4o"]
# context_length = 128000
# pricing = {{ prompt_cost_per_million = 2.5, completion_cost_per_million = 10.0 }}

# [limits]
# max_body_bytes = 33554432               # 32 MiB; larger requests get 413

# shutdown_timeout = 30                   # seconds to drain requests and streams on SIGTERM
'''


def new_secret() -> str:
    return "sk-" + secrets.token_hex(32)


def write_starter(path: Path, *, force: bool = False) -> tuple[str, str]:
    """Write the starter config with fresh secrets, mode 0600; return (admin_token, default_key)."""
    if path.exists() and not force:
        raise ConfigError(f"{path} already exists", fix="pass --force to overwrite")
    admin_token, default_key = new_secret(), new_secret()
    text = TEMPLATE.format(admin_token=admin_token, default_key=default_key)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except OSError as e:
        raise ConfigError(f"cannot write {path}: {e.strerror or e}", fix="choose a writable path with --out") from None
    return admin_token, default_key
