"""Server state kept in the configured storage and shared by every worker: issued keys
(`keystore`) and stored /v1/responses objects (`responses`). May import storage, config,
registry, errors and types; never the route packages or the runtime.
"""
