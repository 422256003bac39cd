"""Modal dialogs of the console: forms, confirmations, the one-time secret, details and help."""
