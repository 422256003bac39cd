"""The crabllm.toml: its msgspec schema (`schema`, credentials as `secret.Secret`), `${VAR}`
interpolation (`env`), loading and validation on one code path for `serve`, reload and `check`
(`loader`, `validate`, `problems`), the starter file (`starter`) and the comment-preserving
tomlkit editor the admin API writes through (`editor`, `toml_layout`). May import `errors` and
`types` only; everything else imports it.
"""
