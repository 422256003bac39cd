"""The HTTP server. `app` builds the Litestar app and its lifespan; `runtime` holds one worker's
Gateway (registry holder, upstream session, breaker, stream tracker). One subpackage per thing a
maintainer changes together: `proxy` (the public routes and their stream relays), `admin` (the
admin API), `docs` (the OpenAPI document), `state` (issued keys and stored responses, in
storage) and `observe` (stats, metrics, events, the access log); `auth` checks keys, `http` is
the raw ASGI exchange they share, `uv` the draining uvicorn server. The layers, enforced by
import-linter (pyproject.toml): app > proxy | admin | docs > runtime > state | observe | auth >
http. The server may import everything below it; nothing below it imports the server.
"""
