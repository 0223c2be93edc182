"""How CLI commands reach a running simulator: one address setting and one admin-API request helper.

The address is `--url`, else `SIMULATOR_URL`, else `SIMULATOR_PUBLIC_URL`, else
`http://SIMULATOR_HOST:SIMULATOR_PORT`; `SIMULATOR_ADMIN_TOKEN` is sent as a Bearer token when set.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import httpx
import typer

from simulator.config import get_settings

URL_ENV = "SIMULATOR_URL"
ADDRESS_HELP = (
    "Commands that talk to a running simulator find it at --url, else $SIMULATOR_URL, else "
    "$SIMULATOR_PUBLIC_URL, else http://$SIMULATOR_HOST:$SIMULATOR_PORT (default http://127.0.0.1:8000)."
)

UrlOption = Annotated[
    str | None,
    typer.Option("--url", envvar=URL_ENV, help="a running simulator's base URL", show_envvar=True),
]
"""The `--url` option of a command that talks to a running simulator (SIMULATOR_URL when not given)."""


def simulator_url(url: str | None = None) -> str:
    """The running simulator's base URL: the option (or SIMULATOR_URL) given, else host/port from settings."""
    return (url or get_settings().base_url).rstrip("/")


def admin_headers() -> dict[str, str]:
    token = get_settings().admin_token
    return {"Authorization": f"Bearer {token}"} if token else {}


def admin_request(method: str, path: str, url: str | None, *, timeout: float = 60, **kw: Any) -> Any:
    """One admin API call (`path` under /api) on the running simulator; exits 2 when it cannot be reached
    and 1 (printing the reason) when the call is refused."""
    base = simulator_url(url)
    try:
        r = httpx.request(method, f"{base}/api{path}", headers=admin_headers(), timeout=timeout, **kw)
    except httpx.HTTPError as e:
        typer.echo(f"cannot reach the simulator at {base}: {e}", err=True)
        raise typer.Exit(2) from None
    if r.status_code >= 400:
        try:
            detail = r.json().get("detail")
        except ValueError:
            detail = r.text
        typer.echo(f"refused (HTTP {r.status_code}): {json.dumps(detail, ensure_ascii=False)}", err=True)
        raise typer.Exit(1)
    return r.json() if r.content else None
