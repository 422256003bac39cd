"""crabllm.config package."""
