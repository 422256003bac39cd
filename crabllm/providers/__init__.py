"""crabllm.providers package."""
