"""Connection state of the console and what to tell the operator about it (pure)."""

from __future__ import annotations

from dataclasses import dataclass

from crabllm.client import ClientError

CONNECTING = "connecting"
LIVE = "live"
DOWN = "down"
UNAUTHORIZED = "unauthorized"
FAILING = "error"


@dataclass(frozen=True)
class Connection:
    state: str
    url: str
    message: str = ""
    hint: str = ""
    retry_in: float = 0.0
    since: float = 0.0

    @property
    def live(self) -> bool:
        return self.state == LIVE

    @property
    def label(self) -> str:
        return {CONNECTING: "connecting…", LIVE: "live", DOWN: "unreachable", UNAUTHORIZED: "unauthorized"}.get(
            self.state, "error")


def from_error(url: str, err: ClientError, retry_in: float, since: float = 0.0) -> Connection:
    """Map a failed admin call to a state, a message and a hint that says what to do."""
    if err.status == 0:
        return Connection(DOWN, url, f"Cannot reach the gateway at {url}.",
                          "Start it with `crabllm serve`, or point the console at it with --url or CRABLLM_URL.",
                          retry_in, since)
    if err.status in (401, 403):
        return Connection(UNAUTHORIZED, url, f"The gateway refused the admin token ({err.status}: {err.message}).",
                          "Pass the config's admin_token with --token or CRABLLM_TOKEN.", retry_in, since)
    if err.status == 404:
        return Connection(FAILING, url, f"No admin API at {url} (404: {err.message}).",
                          "Set admin_token in the gateway's config, or check --url.", retry_in, since)
    return Connection(FAILING, url, f"The gateway answered {err.status}: {err.message}.",
                      "Check the gateway's log.", retry_in, since)
