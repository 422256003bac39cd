"""The OpenAPI 3.1 document (from the msgspec wire types), its HTML viewer, and their two routes."""

# No `from __future__ import annotations` here: the route handlers below are defined inside a
# function (litestar is imported lazily), so their annotations must be real objects for
# Litestar's signature parsing, not strings naming function locals.

import json
from typing import Any

import msgspec

from crabllm import __version__
from crabllm.server.docs.paths import admin_paths, error_responses, public_paths

REF = "#/components/schemas/{name}"
VIEWER = "https://cdn.jsdelivr.net/npm/@scalar/api-reference"

DESCRIPTION = """\
crabllm is an LLM API gateway: one OpenAI-compatible endpoint (and an Anthropic-compatible
`/v1/messages`) in front of many upstream providers.

* **Public routes** authenticate with a virtual key: `Authorization: Bearer <key>` or `x-api-key: <key>`.
  With no keys and no admin token configured, auth is off.
* **Admin routes** (`/v1/admin/*`, and `/metrics` unless `metrics_public = true`) need the admin token
  as a bearer token; without `admin_token` in the config they answer 404.
* Errors use the OpenAI envelope `{"error": {"message", "type", "param", "code"}}`, except
  `/v1/messages*`, which use the Anthropic envelope `{"type": "error", "error": {"type", "message"}}`.
"""


def _is_type(value: Any) -> bool:
    return isinstance(value, type) and issubclass(value, msgspec.Struct)


def _collect(node: Any, found: list[type]) -> None:
    if _is_type(node):
        if node not in found:
            found.append(node)
    elif isinstance(node, dict):
        for value in node.values():
            _collect(value, found)
    elif isinstance(node, list):
        for value in node:
            _collect(value, found)


def _substitute(node: Any, refs: dict[type, dict[str, Any]]) -> Any:
    if _is_type(node):
        return refs[node]
    if isinstance(node, dict):
        return {k: _substitute(v, refs) for k, v in node.items()}
    if isinstance(node, list):
        return [_substitute(v, refs) for v in node]
    return node


def _tidy(schema: Any) -> Any:
    """Drop msgspec's empty `required` lists (noise for viewers and generators)."""
    if isinstance(schema, dict):
        return {k: _tidy(v) for k, v in schema.items() if not (k == "required" and v == [])}
    if isinstance(schema, list):
        return [_tidy(v) for v in schema]
    return schema


def build_document() -> dict[str, Any]:
    """The whole document as plain JSON-ready data; it depends on no config, so the CLI prints the same."""
    paths = {**public_paths(), **admin_paths()}
    responses = error_responses()
    types: list[type] = []
    _collect([paths, responses], types)
    schemas, components = msgspec.json.schema_components(types, ref_template=REF)
    refs = dict(zip(types, schemas, strict=True))
    return {
        "openapi": "3.1.0",
        "info": {"title": "crabllm", "version": __version__, "description": DESCRIPTION,
                 "license": {"name": "MIT", "identifier": "MIT"}},
        "tags": [
            {"name": "openai", "description": "OpenAI-compatible, routed by model"},
            {"name": "anthropic", "description": "Anthropic-compatible, routed by model"},
            {"name": "health", "description": "Liveness and readiness (no auth)"},
            {"name": "docs", "description": "This document and its viewer"},
            {"name": "admin: config", "description": "The config file and hot reload"},
            {"name": "admin: keys", "description": "Virtual keys: config keys are read-only, issued keys are managed here"},
            {"name": "admin: providers", "description": "Providers, written to the TOML file (comments kept)"},
            {"name": "admin: extensions", "description": "Budgets and the response cache"},
            {"name": "observability", "description": "Stats, usage, the audit log, the live event feed, Prometheus metrics"},
        ],
        "paths": _substitute(paths, refs),
        "components": {
            "schemas": _tidy(dict(sorted(components.items()))),
            "responses": _substitute(responses, refs),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "a virtual key (config or issued)"},
                "xApiKey": {"type": "apiKey", "in": "header", "name": "x-api-key",
                            "description": "a virtual key, Anthropic style"},
                "adminToken": {"type": "http", "scheme": "bearer", "description": "the config's admin_token"},
            },
            "headers": {
                "RequestId": {"description": "the client's x-request-id, or a generated one",
                              "schema": {"type": "string"}},
                "Provider": {"description": "the provider that served the request", "schema": {"type": "string"}},
                "RetryAfter": {"description": "seconds to wait before retrying", "schema": {"type": "integer"}},
                **_rate_limit_headers(),
            },
        },
    }


def _rate_limit_headers() -> dict[str, Any]:
    """Sent when the key has a rate limit ([extensions.rate_limit] or the key's own rate_limit)."""
    out = {}
    for kind in ("requests", "tokens"):
        out[f"RateLimitLimit{kind.title()}"] = {"description": f"{kind} allowed per minute", "schema": {"type": "integer"}}
        out[f"RateLimitRemaining{kind.title()}"] = {"description": f"{kind} left in the current minute",
                                                    "schema": {"type": "integer"}}
        out[f"RateLimitReset{kind.title()}"] = {"description": "time until the window resets, like `12s`",
                                                "schema": {"type": "string"}}
    return out


def document_bytes() -> bytes:
    return msgspec.json.encode(build_document())


def docs_html(document: bytes) -> bytes:
    """A self-contained page: the document inline, the Scalar viewer from a CDN."""
    inline = document.decode().replace("</", "<\\/")  # never close the <script> early
    page = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>crabllm API {__version__}</title>
</head>
<body>
<div id="app"></div>
<script src="{VIEWER}"></script>
<script>
Scalar.createApiReference("#app", {{content: {inline}, title: {json.dumps("crabllm " + __version__)}}});
</script>
</body>
</html>
"""
    return page.encode()


def openapi_handlers() -> list:
    """GET /openapi.json and GET /docs; both answer 404 while the live config has `openapi = false`."""
    from litestar import Request, Response, get

    from crabllm.errors import NotFound

    document = document_bytes()
    page = docs_html(document)

    def require_enabled(request: Request) -> None:
        if not request.app.state.gateway.holder.current.config.openapi:
            raise NotFound("the API docs are disabled (openapi = false in the config)")

    @get("/openapi.json", include_in_schema=False, sync_to_thread=False)
    def openapi_json(request: Request) -> Response:
        require_enabled(request)
        return Response(document, media_type="application/json")

    @get("/docs", include_in_schema=False, sync_to_thread=False)
    def openapi_docs(request: Request) -> Response:
        require_enabled(request)
        return Response(page, media_type="text/html")

    return [openapi_json, openapi_docs]
