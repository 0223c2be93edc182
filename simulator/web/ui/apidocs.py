"""The admin API's documentation, offline: `/docs` (Swagger UI) and `/redoc` (ReDoc) from the assets the
`fastapi-offline` package ships (no CDN), started by a static script (no inline script, for the CSP)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse, HTMLResponse

from simulator.web.ui.common import STATIC

router = APIRouter(include_in_schema=False)
ASSETS = ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js", "favicon.png")


def _assets() -> Path:
    import fastapi_offline

    return Path(fastapi_offline.__file__).resolve().parent / "static"


def _page(title: str, head: str, body: str) -> HTMLResponse:
    return HTMLResponse(
        f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title><link rel="icon" href="/ui/apidocs/favicon.png">{head}</head>
<body>{body}</body></html>"""
    )


@router.get("/docs", response_class=HTMLResponse)
async def swagger() -> HTMLResponse:
    return _page(
        "KY debtor simulator – admin API",
        '<link rel="stylesheet" href="/ui/apidocs/swagger-ui.css">',
        '<main id="swagger-ui"></main><script src="/ui/apidocs/swagger-ui-bundle.js"></script>'
        '<script src="/ui/apidocs/start.js"></script>',
    )


@router.get("/redoc", response_class=HTMLResponse)
async def redoc() -> HTMLResponse:
    return _page(
        "KY debtor simulator – admin API",
        "",
        '<redoc spec-url="/openapi.json"></redoc><script src="/ui/apidocs/redoc.standalone.js"></script>',
    )


@router.get("/ui/apidocs/{name}")
async def asset(name: str) -> FileResponse:
    if name == "start.js":
        return FileResponse(STATIC / "apidocs-start.js", headers={"cache-control": "no-cache"})
    if name not in ASSETS:
        raise HTTPException(404, "no such file")
    return FileResponse(_assets() / name, headers={"cache-control": "max-age=86400"})
