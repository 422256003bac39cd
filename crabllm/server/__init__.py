"""crabllm.server package."""
