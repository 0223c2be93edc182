"""Typed dependencies for the admin API's route handlers."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Query, Request

from simulator.runtime import Runtime


def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]

Before = Annotated[
    int | None, Query(ge=1, le=2**63 - 1, description="keyset paging: the last id/seq of the previous page")
]
"""The cursor of a newest-first listing: rows older than this one."""


def require_admin(request: Request, authorization: Annotated[str | None, Header()] = None) -> None:
    """When SIMULATOR_ADMIN_TOKEN is set, the admin API wants `Authorization: Bearer <token>`."""
    if request.app.state.runtime.settings.admin_token and not presents_admin_token(request):
        raise HTTPException(status_code=401, detail="admin API requires 'Authorization: Bearer <token>'")


def presents_admin_token(request: Request) -> bool:
    """Does the request carry `Authorization: Bearer <SIMULATOR_ADMIN_TOKEN>` (false when none is set)?"""
    token = request.app.state.runtime.settings.admin_token
    given = request.headers.get("authorization") or ""
    return bool(token) and hmac.compare_digest(given.encode(), f"Bearer {token}".encode())


def client_cert_of(scope) -> str | None:
    """The TLS client certificate (PEM) of a request, from the ASGI TLS extension (which uvicorn fills with
    simulator.security.tls.TLSHttpProtocol)."""
    chain = ((scope.get("extensions") or {}).get("tls") or {}).get("client_cert_chain") or ()
    return chain[0] if chain else None
