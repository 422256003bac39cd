"""crabllm.cli package."""
