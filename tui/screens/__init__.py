"""The four views of the console: dashboard, keys, providers and logs."""
