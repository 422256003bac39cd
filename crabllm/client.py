"""Admin API client (httpx), shared by the admin CLI and the console; no Textual import here."""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

DEFAULT_URL = "http://127.0.0.1:5632"


class ClientError(Exception):
    """The gateway answered with an error (status, message) or could not be reached (status 0)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Target:
    url: str
    token: str | None


def resolve_target(url: str | None = None, token: str | None = None, config: str | None = "crabllm.toml",
                   env: dict[str, str] | None = None) -> Target:
    """Flags, then CRABLLM_URL / CRABLLM_TOKEN, then the local config's listen and admin_token."""
    env = dict(os.environ) if env is None else env
    url = url or env.get("CRABLLM_URL")
    token = token or env.get("CRABLLM_TOKEN")
    if (url is None or token is None) and config and Path(config).is_file():
        try:
            raw = tomllib.loads(Path(config).read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
            raw = {}
        if url is None and isinstance(raw.get("listen"), str):
            host, _, port = raw["listen"].rpartition(":")
            host = "127.0.0.1" if host in ("0.0.0.0", "", "[::]", "::") else host
            url = f"http://{host}:{port}"
        admin = raw.get("admin_token")
        if token is None and isinstance(admin, str) and "${" not in admin:
            token = admin
    return Target(url=(url or DEFAULT_URL).rstrip("/"), token=token)


def _error(resp: httpx.Response) -> ClientError:
    try:
        message = resp.json()["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = resp.text.strip() or f"request failed with status {resp.status_code}"
    return ClientError(resp.status_code, message)


class AdminClient:
    """Async client of /v1/admin/* (and /health); every error is a ClientError."""

    def __init__(self, target: Target, *, timeout: float = 10.0, transport: httpx.AsyncBaseTransport | None = None) -> None:
        headers = {"authorization": f"Bearer {target.token}"} if target.token else {}
        self.target = target
        self._http = httpx.AsyncClient(base_url=target.url, headers=headers, timeout=timeout, transport=transport)

    async def close(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AdminClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def request(self, method: str, path: str, **kw: Any) -> Any:
        try:
            resp = await self._http.request(method, path, **kw)
        except httpx.HTTPError as e:
            raise ClientError(0, f"cannot reach the gateway at {self.target.url}: {e or type(e).__name__}") from None
        if resp.status_code >= 400:
            raise _error(resp)
        if resp.status_code == 204 or not resp.content:
            return None
        if resp.headers.get("content-type", "").startswith("application/json"):
            return resp.json()
        return resp.text

    # health and config
    async def health(self) -> Any:
        return await self.request("GET", "/health")

    async def config(self) -> Any:
        return await self.request("GET", "/v1/admin/config")

    async def reload(self) -> Any:
        return await self.request("POST", "/v1/admin/reload")

    # keys
    async def keys(self) -> list[dict[str, Any]]:
        return (await self.request("GET", "/v1/admin/keys"))["data"]  # type: ignore[no-any-return]

    async def key(self, name: str) -> dict[str, Any]:
        return await self.request("GET", f"/v1/admin/keys/{quote(name, safe='')}")  # type: ignore[no-any-return]

    async def create_key(self, body: dict[str, Any]) -> dict[str, Any]:
        return await self.request("POST", "/v1/admin/keys", json=body)  # type: ignore[no-any-return]

    async def update_key(self, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        return await self.request("PATCH", f"/v1/admin/keys/{quote(name, safe='')}", json=patch)  # type: ignore[no-any-return]

    async def revoke_key(self, name: str) -> None:
        await self.request("DELETE", f"/v1/admin/keys/{quote(name, safe='')}")

    # providers
    async def providers(self) -> list[dict[str, Any]]:
        return (await self.request("GET", "/v1/admin/providers"))["data"]  # type: ignore[no-any-return]

    async def provider(self, name: str) -> dict[str, Any]:
        return await self.request("GET", f"/v1/admin/providers/{quote(name, safe='')}")  # type: ignore[no-any-return]

    async def create_provider(self, body: dict[str, Any]) -> dict[str, Any]:
        return await self.request("POST", "/v1/admin/providers", json=body)  # type: ignore[no-any-return]

    async def update_provider(self, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        return await self.request("PATCH", f"/v1/admin/providers/{quote(name, safe='')}", json=patch)  # type: ignore[no-any-return]

    async def delete_provider(self, name: str) -> None:
        await self.request("DELETE", f"/v1/admin/providers/{quote(name, safe='')}")

    async def test_provider(self, name: str) -> dict[str, Any]:
        return await self.request("POST", f"/v1/admin/providers/{quote(name, safe='')}/test")  # type: ignore[no-any-return]

    # observability
    async def stats(self, window: int = 60) -> dict[str, Any]:
        return await self.request("GET", "/v1/admin/stats", params={"window": window})  # type: ignore[no-any-return]

    async def usage(self, **filters: str) -> Any:
        return await self.request("GET", "/v1/admin/usage", params={k: v for k, v in filters.items() if v})

    async def events(self) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        """Yield (event name, payload) from the SSE feed until the connection ends."""
        try:
            async with self._http.stream("GET", "/v1/admin/events", timeout=httpx.Timeout(10.0, read=None)) as resp:
                if resp.status_code >= 400:
                    await resp.aread()
                    raise _error(resp)
                name = "message"
                async for line in resp.aiter_lines():
                    if line.startswith("event:"):
                        name = line[6:].strip()
                    elif line.startswith("data:"):
                        yield name, json.loads(line[5:])
                        name = "message"
        except httpx.HTTPError as e:
            raise ClientError(0, f"event feed from {self.target.url} broke: {e or type(e).__name__}") from None
