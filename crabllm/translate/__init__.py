"""Pure translations between wire formats: OpenAI chat ⇄ Anthropic Messages (`anthropic_*`),
Gemini (`gemini*`), Bedrock Converse (`bedrock*`), the Responses API (`responses_*`), JSON-schema
rewriting (`schema`), SSE and AWS event-stream codecs (`sse`, `eventstream`), SigV4 (`sigv4`) and
multipart framing. Functions of data only: they may import `types` and `errors`, and no I/O
library (enforced).
"""
