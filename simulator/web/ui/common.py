"""What every UI page shares: access (the admin login), rendering, forms, cell formatting, and calling the
components' services with their refusals shown on the page."""

from __future__ import annotations

import asyncio
import hmac
import json
import re
from collections.abc import Awaitable
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlencode

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from markupsafe import Markup
from pydantic import BaseModel

from simulator.web.guard import session_valid
from simulator.web.ui.outcome import outcome_of

HERE = Path(__file__).resolve().parent.parent
STATIC = HERE / "static"
templates = Jinja2Templates(directory=HERE / "templates")

COOKIE = "simulator_admin"
FORM_MAX_BYTES = 1024 * 1024

NAV = [
    ("traffic", "/", "Traffic"),
    ("config", "/ui/config", "Configuration"),
    ("ky", "/ui/ky", "KY ledger"),
    ("beskedfordeler", "/ui/beskedfordeler", "Beskedfordeler"),
    ("sortiment", "/ui/sortiment", "Sortiments"),
    ("scenarios", "/ui/scenarios", "Scenarios & readiness"),
    ("readiness", "/ui/readiness", "Readiness matrix"),
]


# -- access ------------------------------------------------------------------------------------------


def authorised(request: Request) -> bool:
    token = request.app.state.runtime.settings.admin_token
    if not token:
        return True
    cookie = request.cookies.get(COOKIE) or ""
    header = request.headers.get("authorization") or ""
    return session_valid(cookie, token) or hmac.compare_digest(header, f"Bearer {token}")


def ui_admin(request: Request) -> None:
    """Pages need the admin token when one is set: from the login cookie (or a Bearer header)."""
    if authorised(request):
        return
    if request.url.path.startswith("/ui/traffic/stream") or request.headers.get("x-partial"):
        raise HTTPException(401, "log in at /ui/login")
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    raise HTTPException(303, "log in first", headers={"Location": f"/ui/login?next={quote(target)}"})


def page_router() -> APIRouter:
    """A router for UI pages: not in the OpenAPI document, behind the admin login."""
    return APIRouter(include_in_schema=False, dependencies=[Depends(ui_admin)])


# -- forms and redirects -------------------------------------------------------------------------------


async def form_of(request: Request) -> dict[str, str]:
    """The UI's forms are application/x-www-form-urlencoded (no multipart dependency needed); values are
    stripped of surrounding white space."""
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
        raise HTTPException(415, "send the form as application/x-www-form-urlencoded")
    body = await request.body()
    if len(body) > FORM_MAX_BYTES:
        raise HTTPException(413, "form too large")
    fields = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {k: v[-1].strip() for k, v in fields.items()}


def local(target: str) -> str:
    """Only redirect within this site."""
    return target if target.startswith("/") and not target.startswith("//") else "/"


def back(path: str, msg: str | None = None, err: str | None = None) -> RedirectResponse:
    """Back to a page after a form, with a message to show there."""
    query = urlencode({k: v for k, v in (("msg", msg), ("err", err)) if v})
    return RedirectResponse(f"{path}?{query}" if query else path, 303)


# -- rendering -------------------------------------------------------------------------------------------


def render(request: Request, template: str, active: str, status_code: int = 200, **ctx: Any) -> HTMLResponse:
    rt = request.app.state.runtime
    ctx |= {
        "request": request,
        "nav": NAV,
        "active": active,
        "components": [c.name for c in rt.components],
        "logged_in": bool(rt.settings.admin_token) and authorised(request),
        "msg": request.query_params.get("msg"),
        "err": request.query_params.get("err"),
    }
    return templates.TemplateResponse(request, template, ctx, status_code=status_code)


def not_found(request: Request, what: str, active: str = "") -> HTMLResponse:
    return render(request, "not_found.html", active, status_code=404, what=what)


def loaded(rt, name: str) -> bool:
    return any(c.name == name for c in rt.components)


def unavailable(request: Request, active: str, title: str, component: str) -> HTMLResponse:
    return render(request, "unavailable.html", active, title=title, component=component)


# -- calling the components' services ------------------------------------------------------------------


def reason_of(e: Exception) -> str:
    """What a component's refusal says (an admin handler's HTTPException, KY's KyError, a ValueError)."""
    detail = getattr(e, "detail", None) or getattr(e, "message", None) or str(e)
    return detail if isinstance(detail, str) else json.dumps(detail, default=str)


def refusals() -> tuple[type[Exception], ...]:
    """What a page shows as a problem instead of failing: an admin handler's HTTPException, KY's KyError, a
    capability no component provides (LookupError), a value a service refuses (ValueError)."""
    from simulator.ky.ledger import KyError

    return (HTTPException, KyError, LookupError, ValueError)


def _plain(value: Any) -> Any:
    """A service answer as the templates read it: typed models and stored rows as plain dicts."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    mapper = getattr(value, "__mapper__", None)  # a stored row the API's response model would read
    if mapper is not None:
        return {a.key: getattr(value, a.key) for a in mapper.column_attrs}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


async def calls(**work: Awaitable[Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """Run several service calls at once; returns (result by name, problem by name). A call that fails
    with a refusal gives None and its reason."""
    data: dict[str, Any] = {}
    errors: dict[str, str] = {}

    async def one(name: str, job: Awaitable[Any]) -> None:
        try:
            data[name] = _plain(await job)
        except refusals() as e:
            data[name] = None
            errors[name] = f"{name}: {reason_of(e)}"

    await asyncio.gather(*(one(n, j) for n, j in work.items()))
    return data, errors


async def act(target: str, job: Awaitable[Any], done: str) -> RedirectResponse:
    """Run a service call for a form and go back to `target` saying what happened."""
    try:
        await job
    except refusals() as e:
        return back(target, err=f"{done} failed: {reason_of(e)}")
    return back(target, msg=done)


# -- cells -------------------------------------------------------------------------------------------------


def fmt_time(value: Any) -> str:
    """Times in UTC, to the millisecond (SQLite hands back naive UTC, PostgreSQL aware)."""
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC)
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    return str(value)


def fmt_ms(value: Any) -> str:
    """A duration for people: 0.4 ms, 16.9 ms, 1.25 s, 2 min 5 s."""
    if value is None or value == "":
        return "—"
    ms = float(value)
    if ms < 1000:
        return f"{ms:.1f} ms"
    if ms < 60_000:
        return f"{ms / 1000:.2f} s"
    minutes, seconds = divmod(round(ms / 1000), 60)
    return f"{minutes} min {seconds} s"


_ISO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def fmt_value(value: Any) -> Markup:
    """A cell for the generic tables of the component pages (long values wrap or fold)."""
    if value is None or value == "":
        return Markup('<span class="muted">—</span>')
    if isinstance(value, bool):
        return Markup('<span class="badge ok">yes</span>' if value else '<span class="badge">no</span>')
    if isinstance(value, float):
        return Markup(escape(f"{value:.6g}"))
    if isinstance(value, dict | list):
        text = json.dumps(value, ensure_ascii=False, default=str)
        if len(text) > 160:
            return Markup(
                f"<details><summary><code>{escape(text[:60])}…</code></summary>"
                f"<pre>{escape(json.dumps(value, ensure_ascii=False, indent=2, default=str))}</pre>"
                "</details>"
            )
        return Markup(f'<code class="wrap">{escape(text)}</code>')
    if isinstance(value, datetime):
        return Markup(escape(fmt_time(value)))
    text = str(value)
    if _ISO_TIME.match(text):
        return Markup(escape(fmt_time(text)))
    if _UUID.match(text):
        return Markup(f'<code class="uuid" title="{escape(text)}">{escape(text[:8])}…</code>')
    if len(text) > 120:
        return Markup(f'<span class="long" title="{escape(text)}">{escape(text[:117])}…</span>')
    return Markup(escape(text))


def cell(column: str, value: Any) -> Markup:
    """`fmt_value`, with durations (`…_ms`) for people."""
    if column.endswith("_ms") and isinstance(value, int | float):
        return Markup(escape(fmt_ms(value)))
    return fmt_value(value)


def columns_of(items: list[dict], skip: tuple | list = ()) -> list[str]:
    cols: list[str] = []
    for item in items[:50]:
        for k in item:
            if k not in cols and k not in skip:
                cols.append(k)
    return cols


_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")


def camel(value: Any) -> Markup:
    """A CamelCase name (DaekningAfskrivningRegistreringAfsend) that may wrap between its words."""
    return Markup("<wbr>".join(escape(part) for part in _CAMEL.split(str(value))))


templates.env.filters["camel"] = camel
templates.env.filters["t"] = fmt_time
templates.env.filters["ms"] = fmt_ms
templates.env.filters["v"] = fmt_value
templates.env.globals["cell"] = cell
templates.env.globals["columns_of"] = columns_of
templates.env.globals["outcome_of"] = outcome_of
