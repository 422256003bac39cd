"""The request preamble and ending every raw model route shares; each route brings its policy.

From the socket to the route's own work: the method, the header limit, authentication, the body
(read once, kept for the access log when bodies are logged), the small view decode with its 400s,
model routing and the key's allow-list, the per-key concurrency slot, and the extension pipeline
(rate limits, budget, a cached answer). The ending is the same for every route: an error in the
route's envelope (never after the response started), a dropped client as 499, the pipeline told
of a failure, the slot given back, and the observer called exactly once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from crabllm.errors import CrabError, MethodNotAllowed, UpstreamError
from crabllm.extensions.call import Call
from crabllm.registry import Route
from crabllm.server.auth import authenticate
from crabllm.server.http import ClientGone, Exchange
from crabllm.server.proxy.views import NO_RETRY, decode_view
from crabllm.server.runtime import Gateway


@dataclass(frozen=True, slots=True)
class Policy:
    """What differs between routes at their edges: the request view, the error envelope, and an
    upstream error's own answer."""

    #: The small msgspec view of the JSON body; None when the route reads its body itself (multipart).
    view: Any = None
    anthropic: bool = False
    #: Answers an upstream's error itself (e.g. an Anthropic envelope passed back verbatim); None: the envelope.
    upstream_error: Callable[[Exchange, UpstreamError], Awaitable[None]] | None = None


class Request:
    """One proxied request, for the route's handler: the preamble's steps and the pipeline's bookkeeping."""

    __slots__ = ("ex", "gw", "reg", "pipe", "call", "gated")

    def __init__(self, gw: Gateway, ex: Exchange) -> None:
        self.ex = ex
        self.gw = gw
        self.reg = gw.holder.current  # the snapshot the whole request runs on, whatever reloads meanwhile
        self.pipe = self.reg.pipeline
        self.call: Call | None = None
        #: Whether `admit` has anything to do (extensions on, or a key with a concurrency limit): set
        #: after authentication and checked by the handlers first, so a request with neither pays nothing.
        self.gated = False

    def route(self, requested: str) -> Route:
        """Where the model leads; 404 for an unknown one, 403 when the key may not use it."""
        reg = self.reg
        route = reg.route(requested)
        reg.check_allowed(self.ex.key, requested, route.model)
        self.ex.model = route.model
        return route

    async def admit(self, model: str, endpoint: str, stream: bool, body: bytes, *, cached: bool = True) -> bool:
        """Take the key's concurrency slot and run the pipeline's checks; True when a cached answer was sent."""
        ex = self.ex
        key = ex.key
        if key is not None and key.max_parallel_requests:
            gw = self.gw
            ex.finishing = gw.parallel.releaser(await gw.parallel.acquire(key, key.max_parallel_requests))
        pipe = self.pipe
        if pipe is None:
            return False
        self.call = call = pipe.start(key, model, endpoint, stream, body)
        ex.extra = call.headers
        answer = await pipe.before(call)
        if answer is None or not cached:
            return False
        ex.cached = True
        self.call = None
        await ex.respond(200, answer, ex.base_headers())
        return True

    async def served(self, data: bytes | None) -> None:
        """Book a served request (usage, cost, budget, cache of `data`); handlers call it when `call` is set."""
        call, pipe = self.call, self.pipe
        if call is None or pipe is None:
            return
        self.call = None
        ex = self.ex
        cost = self.reg.cost(ex.provider, ex.model, ex.prompt_tokens, ex.completion_tokens)
        await pipe.after(call, ex.provider, ex.prompt_tokens, ex.completion_tokens, cost, None if ex.error else data)


Handler = Callable[[Request, bytes, Any], Awaitable[None]]


async def serve(gw: Gateway, scope: dict[str, Any], receive: Any, send: Any, policy: Policy, handler: Handler) -> None:
    """Run `handler(request, body, view)` behind the shared preamble and ending.

    The preamble: the method, the header limit, authentication, and — when the policy has a view —
    the body (kept for the access log when bodies are logged) and its small view, a 400 naming
    the problem when it is not the route's JSON. Without a view the handler gets b"" and None.
    """
    ex = Exchange(scope, receive, send)
    r = Request(gw, ex)
    reg = r.reg
    gw.observer.begin(ex)
    try:
        if scope["method"] != "POST":
            raise MethodNotAllowed(f"use POST for {scope['path']}")
        ex.check_headers(reg.config.limits.max_header_bytes)
        ex.key = key = authenticate(reg, gw.keys.by_digest, ex.auth, ex.api_key)
        r.gated = r.pipe is not None or (key is not None and bool(key.max_parallel_requests))
        decoder = policy.view
        if decoder is None:
            await handler(r, b"", None)
        else:
            body = await ex.read_body(reg.config.limits.max_body_bytes)
            if reg.log_bodies:
                ex.body = body
            await handler(r, body, decode_view(decoder, body))
    except UpstreamError as e:
        if not ex.response_started:
            if policy.upstream_error is not None:
                await policy.upstream_error(ex, e)
            else:
                await ex.respond_error(e, anthropic=policy.anthropic, extra=NO_RETRY if ex.dispatched else None)
    except CrabError as e:
        if not ex.response_started:
            await ex.respond_error(e, anthropic=policy.anthropic, extra=NO_RETRY if ex.dispatched else None)
    except ClientGone:
        ex.status = 499
    finally:
        if r.call is not None and r.pipe is not None:
            await r.pipe.failed(r.call)
        if ex.finishing is not None:  # not given back yet (no answer was sent: an error, a disconnect)
            await ex.finish_work()
        gw.observer.finish(ex, reg)
