"""How a request reaches an upstream: `dispatch` (attempt order, retries with backoff, fallback,
panic routing), `breaker` (the per-deployment circuit breaker), `strategies` (weighted, latency,
least_busy, cost) and `loads` (in-flight counts and latency EWMAs). May import providers,
storage, config, errors and types; never the server or the extensions.
"""
