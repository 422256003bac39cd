"""The public model routes, as raw ASGI handlers behind an exact-path fast path: chat and
embeddings (`chat`), `/v1/messages` (`messages`), images and audio (`media`), `/v1/responses`
(`responses`, its stored state in `responses_store` and `responses_state`), the model list and
health (`meta`), the shared request preamble (`preamble`) and the
committed-stream relays (`relay`, `stream`, `anthropic_relay`, `responses_relay`). May import
`crabllm.server.http`, `runtime`, `observe` and everything below the server; never `admin` or `docs`.
"""
