"""crabllm.extensions package."""
