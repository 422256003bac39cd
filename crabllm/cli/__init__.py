"""The `crabllm` command line: `serve` (and its worker factory), `init`, `check`, `openapi`, and the
admin commands (`keys`, `providers`, `usage`, `reload`) that talk to a running gateway over HTTP
through `crabllm.client`. The top layer: it may import everything, and nothing imports it; it
reaches the console only through `tui.cli` (argparse only; Textual loads in `crabllm tui`).
"""
