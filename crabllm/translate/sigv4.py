"""AWS Signature Version 4 for Bedrock Runtime requests (header signing, no I/O)."""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timezone
from typing import Mapping
from urllib.parse import quote, unquote, urlsplit

# Headers a proxy or client may change in flight; AWS SDKs never sign them.
_UNSIGNED = frozenset({
    "authorization", "connection", "expect", "keep-alive", "proxy-authenticate",
    "proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade", "user-agent",
    "x-amzn-trace-id",
})


def converse_path(model_id: str, stream: bool) -> str:
    """The request path for Converse / ConverseStream, the model id percent-encoded once."""
    op = "converse-stream" if stream else "converse"
    return f"/model/{quote(model_id, safe='')}/{op}"


def sign(method: str, url: str, headers: Mapping[str, str], body: bytes, *, access_key: str,
         secret_key: str, session_token: str | None = None, region: str,
         service: str = "bedrock", now: datetime) -> dict[str, str]:
    """Headers to add to the request so AWS accepts it.

    Returns `authorization`, `x-amz-date`, `x-amz-content-sha256` and, with a session token,
    `x-amz-security-token`. Every given header (except hop-by-hop ones) and `host` (derived
    from `url` unless given) are signed, so send them unchanged.
    """
    parts = urlsplit(url)
    amz_date = now.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    payload_hash = hashlib.sha256(body).hexdigest()
    added = {"x-amz-date": amz_date, "x-amz-content-sha256": payload_hash}
    if session_token:
        added["x-amz-security-token"] = session_token
    signed = _headers_to_sign(headers, added, parts)
    names = ";".join(signed)
    canonical = "\n".join([
        method.upper(),
        canonical_uri(parts.path),
        canonical_query(parts.query),
        "".join(f"{k}:{v}\n" for k, v in signed.items()),
        names,
        payload_hash,
    ])
    scope = f"{amz_date[:8]}/{region}/{service}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, _sha256_hex(canonical)])
    key = signing_key(secret_key, amz_date[:8], region, service)
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    added["authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, SignedHeaders={names}, Signature={signature}"
    )
    return added


def canonical_uri(path: str) -> str:
    """The canonical URI of an already-encoded request path.

    Non-S3 services encode every segment of the request path a second time, so a model id
    `a:b` sent as `a%3Ab` is signed as `a%253Ab`.
    """
    segments = _remove_dot_segments(path or "/")
    return "/".join(quote(seg, safe="-_.~") for seg in segments.split("/")) or "/"


def canonical_query(query: str) -> str:
    """Query pairs decoded, re-encoded with the RFC 3986 unreserved set, and sorted."""
    if not query:
        return ""
    pairs = []
    for item in query.split("&"):
        key, _, value = item.partition("=")
        pairs.append((quote(unquote(key), safe="-_.~"), quote(unquote(value), safe="-_.~")))
    return "&".join(f"{k}={v}" for k, v in sorted(pairs))


def signing_key(secret_key: str, date: str, region: str, service: str) -> bytes:
    key = f"AWS4{secret_key}".encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def _headers_to_sign(headers: Mapping[str, str], added: Mapping[str, str], parts) -> dict[str, str]:
    merged: dict[str, str] = {}
    for name, value in headers.items():
        lname = name.lower().strip()
        if lname not in _UNSIGNED:
            merged[lname] = " ".join(str(value).split())
    merged.update(added)
    merged.setdefault("host", _host(parts))
    return dict(sorted(merged.items()))


def _host(parts) -> str:
    host = (parts.hostname or "").lower()
    if parts.port and (parts.scheme, parts.port) not in (("http", 80), ("https", 443)):
        return f"{host}:{parts.port}"
    return host


def _remove_dot_segments(path: str) -> str:
    out: list[str] = []
    for seg in path.split("/")[1:]:
        if seg == "..":
            if out:
                out.pop()
        elif seg != ".":
            out.append(seg)
    trailing = "/" if path.endswith(("/.", "/..")) else ""
    return "/" + "/".join(out) + trailing


def _sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
