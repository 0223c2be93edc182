"""The pages anyone may open: static files, and logging in and out when SIMULATOR_ADMIN_TOKEN is set (the
token is asked for once; the HTTP-only cookie then holds a session value derived from it, never the token itself,
simulator.web.guard; `POST /ui/logout` forgets it)."""

from __future__ import annotations

import hmac
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from simulator.web.guard import csrf_field, session_value
from simulator.web.ui.common import COOKIE, STATIC, form_of, local, render, templates

router = APIRouter(include_in_schema=False)
templates.env.globals["csrf_field"] = csrf_field  # every form of the UI: {{ csrf_field() }}


@router.get("/ui/static/{name}")
async def static(name: str) -> FileResponse:
    path = STATIC / name
    if "/" in name or "\\" in name or name.startswith(".") or not path.is_file():
        raise HTTPException(404, "no such file")
    return FileResponse(path, headers={"cache-control": "no-cache"})


@router.get("/ui/login", response_class=HTMLResponse)
async def login_form(request: Request, next: str = "/", error: str | None = None) -> HTMLResponse:
    return render(request, "login.html", "", next=local(next), error=error)


@router.post("/ui/login")
async def login(request: Request) -> Response:
    form = await form_of(request)
    token, next = form.get("token") or "", form.get("next") or "/"
    expected = request.app.state.runtime.settings.admin_token or ""
    if not expected or not hmac.compare_digest(token, expected):
        return RedirectResponse(f"/ui/login?{urlencode({'next': local(next), 'error': 'wrong token'})}", 303)
    response = RedirectResponse(local(next), 303)
    response.set_cookie(
        COOKIE, session_value(expected), httponly=True, samesite="strict", secure=request.url.scheme == "https"
    )
    return response


@router.post("/ui/logout")
async def logout() -> Response:
    """Forget the login: the next page asks for the token again."""
    response = RedirectResponse("/ui/login?" + urlencode({"next": "/"}), 303)
    response.delete_cookie(COOKIE, httponly=True, samesite="strict")
    return response
