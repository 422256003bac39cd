"""The admin API (Litestar routes under /v1/admin): configuration and reload (`api`), keys and the
key store of issued keys (`api`, `keystore`), providers edited through the TOML editor
(`providers`), extension data — usage, budgets, audit, cache (`extensions`) — and stats, events
and metrics (`observe`). May import `crabllm.server.http`, `runtime`, `observe` and everything
below the server; never `proxy` (the public routes) or `docs`.
"""
