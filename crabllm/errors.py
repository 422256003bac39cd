"""The one error hierarchy: every failure the gateway reports is a CrabError with its HTTP status."""

from __future__ import annotations

import msgspec


class CrabError(Exception):
    """Base of every gateway error; carries the HTTP status and the OpenAI error type."""

    status: int = 500
    type: str = "server_error"
    code: str | None = None

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code

    def headers(self) -> dict[str, str]:
        """Extra response headers this error wants (e.g. retry-after)."""
        return {}

    def openai_body(self) -> bytes:
        return msgspec.json.encode(
            {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}
        )

    def anthropic_body(self) -> bytes:
        return msgspec.json.encode({"type": "error", "error": {"type": ANTHROPIC_TYPES.get(self.status, "api_error"), "message": self.message}})


class ConfigError(CrabError):
    """An invalid configuration: names the file, the TOML path and the fix."""

    status = 400
    type = "invalid_request_error"

    def __init__(self, message: str, *, file: str | None = None, path: str | None = None, fix: str | None = None) -> None:
        self.file = file
        self.path = path
        self.fix = fix
        super().__init__(message)

    def __str__(self) -> str:
        where = ": ".join(p for p in (self.file, self.path) if p)
        text = f"{where}: {self.message}" if where else self.message
        return f"{text} (fix: {self.fix})" if self.fix else text


class InvalidRequest(CrabError):
    status = 400
    type = "invalid_request_error"


class AuthenticationError(CrabError):
    status = 401
    type = "authentication_error"
    code = "invalid_api_key"


class PermissionDenied(CrabError):
    status = 403
    type = "permission_error"
    code = "model_not_allowed"


class NotFound(CrabError):
    status = 404
    type = "invalid_request_error"
    code = "not_found"


class ModelNotFound(NotFound):
    code = "model_not_found"


class MethodNotAllowed(CrabError):
    status = 405
    type = "invalid_request_error"
    code = "method_not_allowed"


class Conflict(CrabError):
    status = 409
    type = "invalid_request_error"
    code = "conflict"


class PayloadTooLarge(CrabError):
    status = 413
    type = "invalid_request_error"
    code = "payload_too_large"


class HeadersTooLarge(CrabError):
    status = 431
    type = "invalid_request_error"
    code = "headers_too_large"


class UnsupportedMediaType(CrabError):
    status = 415
    type = "invalid_request_error"


class RateLimited(CrabError):
    status = 429
    type = "rate_limit_error"
    code = "rate_limit_exceeded"

    def __init__(self, message: str, *, retry_after: float | None = None, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        if self.retry_after is None:
            return {}
        return {"retry-after": str(max(1, int(self.retry_after + 0.999)))}


class ServerError(CrabError):
    status = 500
    type = "server_error"


class UnsupportedOperation(CrabError):
    """The chosen provider cannot serve this endpoint: a client-visible 400, never retried."""

    status = 400
    type = "invalid_request_error"
    code = "unsupported_operation"


class UpstreamError(CrabError):
    """The upstream answered with an error status; the status is kept."""

    type = "upstream_error"

    def __init__(self, status: int, body: bytes, *, provider: str = "", retry_after: float | None = None,
                 content_type: str = "application/json") -> None:
        self.status = status if 400 <= status <= 599 else 502
        self.body = body
        self.provider = provider
        self.retry_after = retry_after
        self.content_type = content_type
        super().__init__(_upstream_message(body, status))

    @property
    def transient(self) -> bool:
        return self.status in TRANSIENT_STATUSES

    def openai_body(self) -> bytes:
        # An upstream that already speaks the OpenAI envelope is passed through untouched;
        # anything else is wrapped so the client always gets the envelope.
        if self.body[:1] == b"{" and _is_openai_envelope(self.body):
            return self.body
        return super().openai_body()

    def headers(self) -> dict[str, str]:
        if self.retry_after is None:
            return {}
        return {"retry-after": str(max(1, int(self.retry_after + 0.999)))}


class UpstreamUnavailable(CrabError):
    """Could not talk to the upstream at all (connect error, reset, garbage): transient."""

    status = 502
    type = "upstream_error"
    code = "upstream_unavailable"
    transient = True


class UpstreamTimeout(CrabError):
    status = 504
    type = "timeout_error"
    code = "upstream_timeout"
    transient = True

    def __init__(self, message: str = "request timed out") -> None:
        super().__init__(message)


class UpstreamProtocolError(CrabError):
    """The upstream answered 2xx with a body we cannot understand: not retried."""

    status = 502
    type = "upstream_error"
    code = "bad_upstream_response"
    transient = False


TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504})

ANTHROPIC_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    502: "api_error",
    503: "overloaded_error",
    504: "api_error",
    529: "overloaded_error",
}


class _EnvelopeView(msgspec.Struct):
    error: dict


class _MessageView(msgspec.Struct):
    message: str = ""


class _ErrorView(msgspec.Struct):
    error: _MessageView | str | None = None
    message: str | None = None


_envelope_dec = msgspec.json.Decoder(_EnvelopeView)
_error_dec = msgspec.json.Decoder(_ErrorView)


def _is_openai_envelope(body: bytes) -> bool:
    try:
        _envelope_dec.decode(body)
    except msgspec.DecodeError:
        return False
    return True


def _upstream_message(body: bytes, status: int) -> str:
    try:
        view = _error_dec.decode(body)
    except msgspec.DecodeError:
        text = body[:500].decode("utf-8", "replace").strip()
        return text or f"upstream returned status {status}"
    if isinstance(view.error, _MessageView) and view.error.message:
        return view.error.message
    if isinstance(view.error, str):
        return view.error
    if view.message:
        return view.message
    return f"upstream returned status {status}"


class StorageUnavailable(CrabError):
    """The storage backend failed (connection lost, database locked too long)."""

    status = 503
    type = "server_error"
    code = "storage_unavailable"


class BudgetExceeded(RateLimited):
    """The key's spend reached its budget for the current period."""

    type = "budget_exceeded"
    code = "budget_exceeded"
