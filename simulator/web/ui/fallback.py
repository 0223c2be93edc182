"""Unknown UI paths (`/ui/...`, GET) answer an HTML 404 page in the UI's frame, not JSON. Included last."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import HTMLResponse

from simulator.web.ui.common import not_found, page_router

router = page_router()


@router.get("/ui/{path:path}", response_class=HTMLResponse)
async def unknown(request: Request, path: str) -> HTMLResponse:
    return not_found(request, f"page /ui/{path}")
