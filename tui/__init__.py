"""The crabllm console: a live Textual view and control room for a running gateway (`crabllm tui`)."""
