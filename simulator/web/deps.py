"""Typed dependencies for the admin API's route handlers."""

from __future__ import annotations

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
    token = request.app.state.runtime.settings.admin_token
    if token and authorization != f"Bearer {token}":
        raise HTTPException(status_code=401, detail="admin API requires 'Authorization: Bearer <token>'")
