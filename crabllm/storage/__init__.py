"""crabllm.storage package."""
