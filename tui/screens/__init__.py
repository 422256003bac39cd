"""The four views of the console: dashboard, keys, providers and logs.

`base` holds ViewScreen and TableScreen; each view is one module on top of them. A screen sees the
app only as `tui.console.Console` (`self.console`) plus Textual's own App API, and may import
`tui.dialogs`, `tui.widgets`, `tui.console`, the pure modules (`fmt`, `filters`, `model`) and
`crabllm.client` (for its errors). It never imports `tui.app`, which imports the screens.
"""
