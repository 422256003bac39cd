"""The OpenAPI document and the /docs page: the document builder (`openapi`), the hand-written
paths of the raw routes (`paths`), and msgspec types that exist only to describe them
(`public_types`, `responses_types`). May import `crabllm.types` and the route modules' public
types; nothing in the request path imports it.
"""
