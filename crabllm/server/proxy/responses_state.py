"""Stored responses by id: GET and DELETE /v1/responses/{id}, GET /v1/responses/{id}/input_items, cancel."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

import msgspec

from crabllm.errors import CrabError, InvalidRequest, MethodNotAllowed, NotFound
from crabllm.extensions.call import principal_of
from crabllm.server.observe.access import log_access
from crabllm.server.auth import authenticate
from crabllm.server.http import ClientGone, Exchange
from crabllm.server.state.responses import StoredResponse
from crabllm.server.runtime import Gateway

DEFAULT_LIMIT = 20
MAX_LIMIT = 100


class _ItemId(msgspec.Struct):
    id: str = ""


_item_id = msgspec.json.Decoder(_ItemId)


def page_of_items(record: StoredResponse, query: dict[str, list[str]]) -> bytes:
    """The SDK's cursor page over the response's input items: limit 1..100 (20), order desc (default) or asc."""
    limit_text = query.get("limit", [str(DEFAULT_LIMIT)])[-1]
    if not limit_text.isdigit() or not 1 <= int(limit_text) <= MAX_LIMIT:
        raise InvalidRequest(f"limit must be an integer within 1..{MAX_LIMIT}, got '{limit_text}'", param="limit")
    order = query.get("order", ["desc"])[-1]
    if order not in ("asc", "desc"):
        raise InvalidRequest(f"order must be 'asc' or 'desc', got '{order}'", param="order")
    items = list(record.input) if order == "asc" else list(reversed(record.input))
    ids = [_item_id.decode(raw).id for raw in items]
    after = query.get("after", [None])[-1]
    start = 0
    if after:
        if after not in ids:
            raise InvalidRequest(f"no input item '{after}' in response '{record.id}'", param="after")
        start = ids.index(after) + 1
    end = start + int(limit_text)
    page, page_ids = items[start:end], ids[start:end]
    return msgspec.json.encode({"object": "list", "data": page, "first_id": page_ids[0] if page_ids else None,
                                "last_id": page_ids[-1] if page_ids else None, "has_more": end < len(items)})


class ResponsesState:
    """Handlers bound to a Gateway; a response is visible only to the key that created it (404 otherwise)."""

    def __init__(self, gateway: Gateway) -> None:
        self.gw = gateway

    async def by_id(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        ex = Exchange(scope, receive, send)
        gw = self.gw
        reg = gw.holder.current
        try:
            ex.check_headers(reg.config.limits.max_header_bytes)
            ex.key = authenticate(reg, gw.keys.by_digest, ex.auth, ex.api_key)
            response_id, _, action = scope["path"].removeprefix("/v1/responses/").partition("/")
            method = scope["method"]
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            if action == "cancel":
                if method != "POST":
                    raise MethodNotAllowed(f"use POST for {scope['path']}")
                raise InvalidRequest("background responses are not supported by this gateway, so there is nothing "
                                     "to cancel", param="response_id")
            if action not in ("", "input_items"):
                raise NotFound(f"no route for {method} {scope['path']}")
            allowed = ("GET", "HEAD") if action else ("GET", "HEAD", "DELETE")
            if method not in allowed:
                raise MethodNotAllowed(f"use {' or '.join(m for m in allowed if m != 'HEAD')} for {scope['path']}")
            if action == "" and method != "DELETE" and query.get("stream", ["false"])[-1] == "true":
                raise InvalidRequest("streaming a stored response again is not supported; retrieve it without "
                                     "stream=true", param="stream")
            record = await gw.responses.get(response_id, principal_of(ex.key))
            if record is None:
                raise NotFound(f"response '{response_id}' not found", param="response_id")
            ex.model = record.model
            ex.provider = record.provider
            if action == "input_items":
                body = page_of_items(record, query)
            elif method == "DELETE":
                await gw.responses.delete(record)
                body = msgspec.json.encode({"id": record.id, "object": "response", "deleted": True})
            else:
                body = bytes(record.response)
            await ex.respond(200, body, ex.base_headers())
        except CrabError as e:
            if not ex.response_started:
                await ex.respond_error(e)
        except ClientGone:
            ex.status = 499
        finally:
            log_access(ex, reg.config.extensions.logging)
