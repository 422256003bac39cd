"""Modal dialogs of the console: forms, confirmations, the one-time secret, details and help.

`base` holds Dialog and FormDialog; each dialog is one module on top of them. A dialog sees the app
only as `tui.console.Console` (`self.console`) plus Textual's own App API, and may import other
dialogs, `tui.widgets`, `tui.console`, the pure modules (`fmt`, `forms`) and `crabllm.client` (for
its errors). It never imports `tui.screens` (which open dialogs) nor `tui.app`.
"""
