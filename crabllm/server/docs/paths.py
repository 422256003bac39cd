"""The path table of the OpenAPI document: every route, its parameters, bodies, responses and errors."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from crabllm.types import admin as A
from crabllm.types import admin_docs as D
from crabllm.server.docs import public_types as P
from crabllm.server.docs import responses_types as R

# Schemas are written as msgspec types here; the builder turns every type into a $ref to
# its component. Routes that talk to an upstream keep the upstream's error status, hence the
# 4XX / 5XX ranges next to the statuses the gateway itself produces.

ERRORS: MappingProxyType[int | str, str] = MappingProxyType({
    400: "Bad request: invalid JSON, a missing or mistyped field, or an operation the provider cannot serve",
    401: "Missing or invalid API key (or admin token)",
    403: "The key may not use this model, or the resource is managed by the config file",
    404: "Unknown model, key or provider (or the feature is disabled)",
    405: "The route exists but not for this method",
    409: "A key or provider with this name already exists",
    413: "The request body is larger than [limits] max_body_bytes",
    415: "The request body has the wrong content type",
    429: "Rate limited (by the gateway or the upstream); see retry-after",
    500: "Internal error (never expected: please report it)",
    502: "The upstream could not be reached or answered garbage",
    503: "Storage unavailable, or the upstream is overloaded",
    504: "The upstream did not answer in time",
    "4XX": "Another client error returned by the upstream, status kept",
    "5XX": "Another server error returned by the upstream, status kept",
})
ROUTED = (400, 401, 403, 404, 405, 413, 429, 500, 502, 503, 504, "4XX", "5XX")
ADMIN = (401, 404)
KEY_AUTH = "key"
ADMIN_AUTH = "admin"
OPEN = "open"

SSE_CHAT = ("Server-sent events: each `data:` line holds one ChatCompletionChunk as JSON; the stream ends with "
            "`data: [DONE]`. A failure after the stream started arrives as a `data:` event holding an error envelope.")
SSE_RESPONSES = ("Server-sent events in the Responses shape: `event:` names the type (response.created, "
                 "response.in_progress, response.output_item.added, response.output_text.delta, …, "
                 "response.completed); every event has a sequence_number. A failure after the stream started "
                 "arrives as response.failed (or an `error` event).")
SSE_MESSAGES = ("Server-sent events in the Anthropic shape: message_start, content_block_start, content_block_delta, "
                "content_block_stop, message_delta, message_stop (and ping, error).")


def json_body(schema: Any) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def sse(description: str, item: Any | None = None, *, done: bool = False) -> dict[str, Any]:
    """An event stream; before OpenAPI 3.2 (itemSchema) the schema of an SSE media type describes one event.

    `item` is the schema of the JSON in each event's data; `done` allows the final `[DONE]` sentinel.
    """
    data: dict[str, Any] = {"type": "string"}
    if item is not None:
        data.update(contentMediaType="application/json", contentSchema=item)
    if done:
        data = {"anyOf": [{"const": "[DONE]"}, data]}
    event = {"type": "object", "description": description, "required": ["data"],
             "properties": {"event": {"type": "string"}, "data": data, "id": {"type": "string"},
                            "retry": {"type": "integer"}}}
    return {"text/event-stream": {"schema": event}}


def name_param(what: str) -> dict[str, Any]:
    return {"name": "name", "in": "path", "required": True, "description": f"the {what}'s name",
            "schema": {"type": "string"}}


def query(name: str, description: str, kind: str = "string") -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description, "schema": {"type": kind}}


def request_id_header() -> dict[str, Any]:
    return {"name": "x-request-id", "in": "header", "required": False, "schema": {"type": "string", "maxLength": 128},
            "description": "echoed back; generated when absent"}


def op(op_id: str, summary: str, tag: str, *, auth: str, ok: int = 200, content: dict[str, Any] | None = None,
       ok_text: str = "OK", errors: tuple[int | str, ...] = (), body: dict[str, Any] | None = None,
       params: list[dict[str, Any]] | None = None, description: str | None = None,
       anthropic: bool = False, routed_headers: bool = False) -> dict[str, Any]:
    ok_response: dict[str, Any] = {"description": ok_text}
    if content is not None:
        ok_response["content"] = content
    if routed_headers:
        ok_response["headers"] = {"x-request-id": {"$ref": "#/components/headers/RequestId"},
                                  "x-crabllm-provider": {"$ref": "#/components/headers/Provider"}}
        for kind in ("requests", "tokens"):
            for what in ("Limit", "Remaining", "Reset"):
                ok_response["headers"][f"x-ratelimit-{what.lower()}-{kind}"] = {
                    "$ref": f"#/components/headers/RateLimit{what}{kind.title()}"}
    prefix = "AnthropicError" if anthropic else "Error"
    responses: dict[str, Any] = {str(ok): ok_response}
    for status in errors:
        responses[str(status)] = {"$ref": f"#/components/responses/{prefix}{status}"}
    out: dict[str, Any] = {"operationId": op_id, "summary": summary, "tags": [tag], "responses": responses}
    if description:
        out["description"] = description
    if params:
        out["parameters"] = params
    if body is not None:
        out["requestBody"] = {"required": True, "content": body}
    out["security"] = {KEY_AUTH: [{"bearer": []}, {"xApiKey": []}], ADMIN_AUTH: [{"adminToken": []}],
                       OPEN: []}.get(auth, [{"adminToken": []}, {}])
    return out


def error_responses() -> dict[str, Any]:
    """components/responses: one per error status and envelope, referenced by the operations."""
    out: dict[str, Any] = {}
    for prefix, envelope in (("Error", P.ErrorEnvelope), ("AnthropicError", P.AnthropicError)):
        for status, text in ERRORS.items():
            response: dict[str, Any] = {"description": text, "content": json_body(envelope)}
            if status == 429:
                response["headers"] = {"retry-after": {"$ref": "#/components/headers/RetryAfter"}}
            out[f"{prefix}{status}"] = response
    return out


def public_paths() -> dict[str, dict[str, Any]]:
    rid = [request_id_header()]
    anthropic_params = [*rid, {"name": "anthropic-version", "in": "header", "required": False, "schema": {"type": "string"}},
                        {"name": "anthropic-beta", "in": "header", "required": False, "schema": {"type": "string"}}]
    transcription_form = {"type": "object", "required": ["file", "model"], "properties": {
        "file": {"type": "string", "contentMediaType": "application/octet-stream", "description": "the audio file"},
        "model": {"type": "string"},
        "response_format": {"type": "string", "enum": ["json", "text", "srt", "verbose_json", "vtt"]},
        "language": {"type": "string"}, "prompt": {"type": "string"}, "temperature": {"type": "number"}}}
    return {
        "/v1/chat/completions": {"post": op(
            "createChatCompletion", "Chat completion (plain JSON, or SSE when stream is true)", "openai",
            auth=KEY_AUTH, body=json_body(P.ChatCompletionRequest), params=rid, routed_headers=True, errors=ROUTED,
            content={**json_body(P.ChatCompletion),
                     **sse(SSE_CHAT, {"anyOf": [P.ChatCompletionChunk, P.ErrorEnvelope]}, done=True)},
            description="Routed by `model` (aliases resolved) to a provider; OpenAI-compatible upstreams get the "
                        "body bytes untouched, others a translation.")},
        "/v1/embeddings": {"post": op(
            "createEmbedding", "Embeddings", "openai", auth=KEY_AUTH, body=json_body(P.EmbeddingRequest), params=rid,
            routed_headers=True, errors=ROUTED, content=json_body(P.EmbeddingResponse))},
        "/v1/models": {"get": op(
            "listModels", "The models this key may use", "openai", auth=KEY_AUTH, params=rid, errors=(401, 405),
            content=json_body({"anyOf": [P.ModelList, P.AnthropicModelList]}),
            description="OpenAI shape by default; the Anthropic shape when the request sends anthropic-version, "
                        "or x-api-key without an Authorization header.")},
        "/v1/messages": {"post": op(
            "createMessage", "Anthropic Messages (plain JSON, or SSE when stream is true)", "anthropic",
            auth=KEY_AUTH, body=json_body(P.MessagesRequest), params=anthropic_params, routed_headers=True,
            anthropic=True, errors=ROUTED, content={**json_body(P.MessagesResponse), **sse(SSE_MESSAGES, P.AnthropicEvent)},
            description="Passed through to Anthropic upstreams; translated to and from the OpenAI shape for others.")},
        "/v1/messages/count_tokens": {"post": op(
            "countMessageTokens", "Count the input tokens of a Messages request", "anthropic", auth=KEY_AUTH,
            body=json_body(P.CountTokensRequest), params=anthropic_params, anthropic=True, errors=ROUTED,
            routed_headers=True, content=json_body(P.CountTokensResponse))},
        **responses_paths(rid),
        "/v1/images/generations": {"post": op(
            "createImage", "Image generation", "openai", auth=KEY_AUTH, body=json_body(P.ImageRequest), params=rid,
            routed_headers=True, errors=ROUTED, content=json_body(P.ImageResponse))},
        "/v1/audio/speech": {"post": op(
            "createSpeech", "Text to speech: the audio bytes", "openai", auth=KEY_AUTH, body=json_body(P.SpeechRequest),
            params=rid, routed_headers=True, errors=ROUTED,
            content={"audio/*": {"schema": {"type": "string", "contentMediaType": "audio/*"}}})},
        "/v1/audio/transcriptions": {"post": op(
            "createTranscription", "Speech to text (multipart upload)", "openai", auth=KEY_AUTH, params=rid,
            body={"multipart/form-data": {"schema": transcription_form}}, routed_headers=True,
            errors=(*ROUTED[:6], 415, *ROUTED[6:]),
            content={**json_body(P.Transcription), "text/plain": {"schema": {"type": "string"}}},
            description="text/plain for response_format text, srt and vtt.")},
        "/v1/usage": {"get": op(
            "getOwnUsage", "The caller's own usage per model and provider", "openai", auth=KEY_AUTH,
            params=[*rid, query("model", "only this model")], errors=(401, 405, 503),
            content=json_body(D.UsageReport))},
        "/health": {"get": op("health", "Liveness: the process answers", "health", auth=OPEN,
                              content=json_body(P.Health))},
        "/ready": {"get": op("ready", "Readiness: the config generation and how many models are routable", "health",
                             auth=OPEN, content=json_body(P.Ready))},
        "/openapi.json": {"get": op("openapi", "This document", "docs", auth=OPEN, errors=(404,),
                                    content=json_body({"type": "object"}),
                                    description="404 when `openapi = false` in the config.")},
        "/docs": {"get": op("docs", "An interactive viewer of this document", "docs", auth=OPEN, errors=(404,),
                            content={"text/html": {"schema": {"type": "string"}}},
                            description="404 when `openapi = false` in the config.")},
    }


def responses_paths(rid: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The OpenAI Responses API: create (routed), and the stored objects by id (owned by the creating key)."""
    response_id = [{"name": "response_id", "in": "path", "required": True, "description": "the response's id",
                    "schema": {"type": "string"}}, *rid]
    stored = (400, 401, 404, 405)
    return {
        "/v1/responses": {"post": op(
            "createResponse", "Create a model response (plain JSON, or SSE when stream is true)", "openai",
            auth=KEY_AUTH, body=json_body(R.ResponsesRequest), params=rid, routed_headers=True, errors=ROUTED,
            content={**json_body(R.ResponseObject), **sse(SSE_RESPONSES, R.ResponseEvent)},
            description="Passed through to deployments that speak the Responses API (openai, azure, or "
                        "`responses = true`); translated to chat and back for every other kind. "
                        "`background: true` is refused with 400.")},
        "/v1/responses/input_tokens": {"post": op(
            "countResponseInputTokens", "Count the input tokens of a Responses request", "openai", auth=KEY_AUTH,
            body=json_body(R.ResponsesRequest), params=rid, routed_headers=True, errors=ROUTED,
            content=json_body(R.InputTokens),
            description="Only for models with a native Responses deployment; 400 otherwise.")},
        "/v1/responses/{response_id}": {
            "get": op("getResponse", "A stored response, as it was returned", "openai", auth=KEY_AUTH,
                      params=response_id, errors=stored, content=json_body(R.ResponseObject)),
            "delete": op("deleteResponse", "Delete a stored response", "openai", auth=KEY_AUTH, params=response_id,
                         errors=stored, content=json_body(R.ResponseDeleted)),
        },
        "/v1/responses/{response_id}/input_items": {"get": op(
            "listResponseInputItems", "The input items of a stored response (cursor page)", "openai", auth=KEY_AUTH,
            params=[*response_id, query("after", "list the items after this item id"),
                    {**query("limit", "1..100", "integer"), "schema": {"type": "integer", "default": 20}},
                    {**query("order", "asc or desc"), "schema": {"type": "string", "enum": ["asc", "desc"],
                                                                "default": "desc"}}],
            errors=stored, content=json_body(R.InputItemList))},
        "/v1/responses/{response_id}/cancel": {"post": op(
            "cancelResponse", "Cancel a background response: always 400 (background is not supported)", "openai",
            auth=KEY_AUTH, params=response_id, errors=stored, ok_text="never returned")},
    }


def admin_paths() -> dict[str, dict[str, Any]]:
    key, prov = [name_param("key")], [name_param("provider")]
    window = {"name": "window", "in": "query", "required": False, "description": "seconds, clamped to 1..900",
              "schema": {"type": "integer", "default": 60}}
    return {
        "/v1/admin/config": {"get": op(
            "getConfigStatus", "Config file status: path, generation, last reload result", "admin: config",
            auth=ADMIN_AUTH, errors=ADMIN, content=json_body(A.ConfigStatus))},
        "/v1/admin/reload": {"post": op(
            "reloadConfig", "Reload the config file now; 400 with the error if it is invalid", "admin: config",
            auth=ADMIN_AUTH, errors=(400, *ADMIN), content=json_body(A.ConfigStatus))},
        "/v1/admin/keys": {
            "get": op("listKeys", "Every key: config keys (read-only) and issued keys", "admin: keys",
                      auth=ADMIN_AUTH, errors=(*ADMIN, 503), content=json_body(A.KeyList)),
            "post": op("createKey", "Issue a key; the secret is returned once", "admin: keys", auth=ADMIN_AUTH,
                       ok=201, ok_text="Created", body=json_body(A.KeyCreate), errors=(400, *ADMIN, 409, 503),
                       content=json_body(A.KeyCreated)),
        },
        "/v1/admin/keys/{name}": {
            "get": op("getKey", "One key", "admin: keys", auth=ADMIN_AUTH, params=key, errors=(*ADMIN, 503),
                      content=json_body(A.KeyInfo)),
            "patch": op("updateKey", "Change an issued key's models, limits, budget or expiry (merge patch)",
                        "admin: keys", auth=ADMIN_AUTH, params=key, body=json_body(A.KeyPatch),
                        errors=(400, 401, 403, 404, 503), content=json_body(A.KeyInfo)),
            "delete": op("revokeKey", "Revoke an issued key (every worker within 2 s)", "admin: keys",
                         auth=ADMIN_AUTH, params=key, ok=204, ok_text="Revoked", errors=(401, 403, 404, 503)),
        },
        "/v1/admin/keys/{name}/rotate": {"post": op(
            "rotateKey", "New secret for an issued key; the old one keeps working for grace_seconds", "admin: keys",
            auth=ADMIN_AUTH, params=key, body=json_body(A.KeyRotate), errors=(400, 401, 403, 404, 503),
            content=json_body(A.KeyCreated))},
        "/v1/admin/providers": {
            "get": op("listProviders", "Every provider, secrets masked, with the last live test",
                      "admin: providers", auth=ADMIN_AUTH, errors=ADMIN, content=json_body(A.ProviderList)),
            "post": op("createProvider", "Add a provider to the TOML (models discovered when omitted)",
                       "admin: providers", auth=ADMIN_AUTH, ok=201, ok_text="Created", body=json_body(A.ProviderCreate),
                       errors=(400, *ADMIN, 409), content=json_body(A.ProviderInfo))},
        "/v1/admin/providers/{name}": {
            "get": op("getProvider", "One provider", "admin: providers", auth=ADMIN_AUTH, params=prov, errors=ADMIN,
                      content=json_body(A.ProviderInfo)),
            "patch": op("updateProvider", "Change a provider in the TOML (merge patch; null removes a field)",
                        "admin: providers", auth=ADMIN_AUTH, params=prov, body=json_body(A.ProviderPatch),
                        errors=(400, *ADMIN), content=json_body(A.ProviderInfo)),
            "delete": op("deleteProvider", "Remove a provider from the TOML", "admin: providers", auth=ADMIN_AUTH,
                         params=prov, ok=204, ok_text="Deleted", errors=(400, *ADMIN)),
        },
        "/v1/admin/providers/{name}/test": {"post": op(
            "testProvider", "A cheap live check (models list) with latency", "admin: providers", auth=ADMIN_AUTH,
            params=prov, errors=ADMIN, content=json_body(A.ProviderTest))},
        "/v1/admin/stats": {"get": op(
            "getStats", "Rolling traffic statistics over the last `window` seconds", "observability",
            auth=ADMIN_AUTH, params=[window], errors=(400, *ADMIN), content=json_body(D.StatsSnapshot))},
        "/v1/admin/events": {"get": op(
            "streamEvents", "Server-sent events: one `request` event per finished request, plus `reload` events",
            "observability", auth=ADMIN_AUTH, errors=ADMIN,
            content=sse("`event: request` with the finished request (id, key, model, provider, status, latency, "
                        "tokens, cost) as JSON; `event: reload` after each reload; comment lines keep it alive"))},
        "/v1/admin/usage": {"get": op(
            "getUsage", "Token, request and cost totals per key x model x provider", "observability",
            auth=ADMIN_AUTH, params=[query("key", "only this key"), query("model", "only this model"),
                                     query("provider", "only this provider")],
            errors=(400, *ADMIN, 503), content=json_body(D.UsageReport),
            description="404 unless [extensions.usage] is in the config.")},
        "/v1/admin/budget": {"get": op(
            "getBudgets", "Spend, limit, remaining and next reset per key for the current period", "admin: extensions",
            auth=ADMIN_AUTH, errors=(*ADMIN, 503), content=json_body(D.BudgetReport),
            description="404 unless [extensions.budget] is in the config.")},
        "/v1/admin/budget/{name}/reset": {"post": op(
            "resetBudget", "Zero one key's spend for the current period", "admin: extensions", auth=ADMIN_AUTH,
            params=key, errors=(*ADMIN, 503), content=json_body(D.BudgetReset))},
        "/v1/admin/cache": {"delete": op(
            "clearCache", "Remove every cached response", "admin: extensions", auth=ADMIN_AUTH,
            errors=(*ADMIN, 503), content=json_body(D.CacheCleared),
            description="404 unless [extensions.cache] is in the config.")},
        "/v1/admin/logs": {"get": op(
            "getAuditLog", "Audit records, newest first, filtered by key, model, status and time range", "observability",
            auth=ADMIN_AUTH, errors=(400, *ADMIN, 503), content=json_body(D.AuditLog),
            params=[query("key", "only this key"), query("model", "only this model"),
                    query("status", "only this HTTP status", "integer"), query("since", "epoch ms, inclusive", "integer"),
                    query("until", "epoch ms, inclusive", "integer"),
                    {**query("limit", "at most this many records (clamped to 1..10000)", "integer"),
                     "schema": {"type": "integer", "default": 100}}],
            description="404 unless [extensions.audit] is in the config.")},
        "/metrics": {"get": op(
            "metrics", "Prometheus metrics (admin token unless metrics_public = true)", "observability",
            auth="metrics", errors=ADMIN,
            content={"text/plain": {"schema": {"type": "string", "description": "Prometheus text exposition format"}}})},
    }
