"""The extension pipeline, in a fixed order, with one storage round trip before and one after a request.

On a pipelining backend (redis) the independent calls of each side are issued at once
(storage.base.together), so "one round trip" holds there even with the cache on.

Order before dispatch: rate_limit, then budget (both checked against the values of a single
atomic `incr_many`), then the cache lookup. Order after the response: usage, budget correction
and rate-limit tokens (again one atomic `incr_many`), then the cache store; audit and logging run
at the very end of the request (see server/observe.py). With no extension enabled the registry
holds no pipeline and the hot path pays nothing.
"""

from __future__ import annotations

import time

from crabllm.config.schema import Config
from crabllm.errors import CrabError
from crabllm.extensions.audit import AuditLog, AuditRecord
from crabllm.extensions.budget import Budget
from crabllm.extensions.cache import Cache
from crabllm.extensions.call import Call, micros, principal_of
from crabllm.extensions.rate_limit import RateLimiter
from crabllm.extensions.usage import increments
from crabllm.registry import KeyEntry
from crabllm.storage.base import Increment, Storage, together

#: Endpoints whose non-stream answers the cache may keep (JSON bodies keyed on the request bytes).
CACHED_ENDPOINTS = ("chat", "messages", "responses")


class Pipeline:
    def __init__(self, config: Config, storage: Storage, audit: AuditLog) -> None:
        ext = config.extensions
        self.storage = storage
        self.rate = RateLimiter(ext.rate_limit) if ext.rate_limit else None
        self.budget = Budget(ext.budget, storage) if ext.budget else None
        self.cache = Cache(ext.cache, storage) if ext.cache else None
        self.usage = ext.usage is not None
        self.audit = audit if ext.audit is not None else None
        if ext.audit is not None:
            audit.cfg = ext.audit

    def start(self, key: KeyEntry | None, model: str, endpoint: str, stream: bool, body: bytes) -> Call:
        call = Call(principal=principal_of(key), key=key, model=model, endpoint=endpoint, stream=stream, body=body,
                    now=time.time())
        if self.cache is not None and not stream and endpoint in CACHED_ENDPOINTS:
            call.headers.append((b"x-crabllm-cache", b"miss"))
        return call

    async def before(self, call: Call) -> bytes | None:
        """Admit or reject (raises RateLimited / BudgetExceeded; the call's headers are set either
        way), then look the cache up: the cached response bytes, or None."""
        rate_ops = self.rate.plan(call) if self.rate else []
        budget_ops = await self.budget.plan(call) if self.budget else []
        lookup = self.cache is not None and not call.stream and call.endpoint in CACHED_ENDPOINTS
        cached: bytes | None = None
        if (rate_ops or budget_ops) and lookup and getattr(self.storage, "pipelined", False):
            # One round trip for both: the lookup only reads, and its answer is dropped on a refusal.
            values, cached = await together(self.storage, self.storage.incr_many(rate_ops + budget_ops),
                                            self.cache.lookup(call))  # type: ignore[union-attr]
            lookup = False
        elif rate_ops or budget_ops:
            values = await self.storage.incr_many(rate_ops + budget_ops)
        if rate_ops or budget_ops:
            error: CrabError | None = None
            undo: list[Increment] = []
            if self.rate:
                error, undo = self.rate.check(call, values[: len(rate_ops)])
            if self.budget and budget_ops:
                undo += self.budget.undo(call)
                error = error or self.budget.check(call, values[len(rate_ops)])
            if error is not None:
                await self.storage.incr_many(undo)
                call.budget_key = None  # settled: nothing left for failed() to give back
                raise error
        if lookup:
            cached = await self.cache.lookup(call)  # type: ignore[union-attr]
        if cached is not None:
            call.headers[:] = [h for h in call.headers if h[0] != b"x-crabllm-cache"] + [(b"x-crabllm-cache", b"hit")]
        return cached

    async def after(self, call: Call, provider: str, prompt: int, completion: int, cost_usd: float,
                    response: bytes | None) -> None:
        """Account a served request (streams included), then store a cacheable response."""
        cost = micros(cost_usd)
        ops: list[Increment] = []
        if self.usage:
            ops += increments(call, provider, prompt, completion, cost)
        if self.budget:
            ops += self.budget.account(call, cost)
        if self.rate:
            ops += self.rate.account(call, prompt + completion)
        work = [self.storage.incr_many(ops)] if ops else []
        if self.budget and self.budget.has_estimates:
            work.append(self.budget.flush_estimates())
        if self.cache and response is not None:
            work.append(self.cache.store(call, response))
        await together(self.storage, *work)

    async def failed(self, call: Call) -> None:
        """Give back the budget reservation of a request that was not served."""
        if self.budget:
            undo = self.budget.undo(call)
            if undo:
                await self.storage.incr_many(undo)

    def record(self, record: AuditRecord) -> None:
        if self.audit is not None:
            self.audit.submit(record)


def build_pipeline(config: Config, storage: Storage, audit: AuditLog) -> Pipeline | None:
    ext = config.extensions
    if not any(getattr(ext, name) is not None for name in ("rate_limit", "budget", "cache", "usage", "audit")):
        return None
    return Pipeline(config, storage, audit)
