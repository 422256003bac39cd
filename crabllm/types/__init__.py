"""msgspec wire types: the small request and usage views decoded on the hot path (`openai`,
`responses`), the chat shapes the translators share (`chat`, `anthropic`), and the admin API's
types (`admin`, `admin_docs`). No I/O and no imports from the rest of crabllm but `errors`.
"""
