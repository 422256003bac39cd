"""What the gateway records about every request: the `observer` called once at its end, in-memory
`stats`, Prometheus `metrics`, the admin `events` feed and the `access` log. May import
`crabllm.server.http` and everything below the server (registry, extensions, types); never the
route packages (`proxy`, `admin`, `docs`), which call into it.
"""
