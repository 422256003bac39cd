"""The request pipeline's extensions, built per registry by `pipeline`: rate limits
(`rate_limit`), the per-key concurrency limit (`parallel`), budgets (`budget`), the response cache
(`cache`), usage accounting (`usage`) and the audit log (`audit`); `call` is one request's record
through them. State lives in the configured storage, so limits are exact across workers. May
import storage, config, registry, errors and types; never the server.
"""
