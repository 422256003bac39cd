"""The crabllm console: a live Textual view and control room for a running gateway (`crabllm tui`).

Imports run one way, top to bottom: `cli` (entry point) > `app` (ConsoleApp: workers, modes,
bindings) > `screens` > `dialogs` > `widgets` > `console` (the narrow `Console` protocol the app
satisfies) > the pure modules `conn`, `state`, `fmt`, `filters`, `forms`, `model`. Only `cli`
imports `app`; everything below it sees the app as a `Console`. The gateway is reached only over
HTTP through `crabllm.client`; no other `crabllm` module is imported here.
`tests/tui/test_layering.py` enforces this.
"""
