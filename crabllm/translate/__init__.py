"""crabllm.translate package."""
