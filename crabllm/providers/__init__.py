"""One module per upstream kind behind the small `base.Provider` protocol: OpenAI-wire upstreams
whose bytes pass through (`openai`: openai, azure, ollama, custom), the translating kinds
(`anthropic`, `google`, `bedrock`) and the built-in `mock`; `transport` holds their shared HTTP
plumbing (timed POSTs, stream checks, translated upstreams), `factory` builds one from config.
May import translate, config, errors, types and telemetry; never routing, extensions or the server.
"""
