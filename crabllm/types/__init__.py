"""crabllm.types package."""
