"""Configuration (`/ui/config`): routes with their fault injection and agreements, editable (validated by
the admin API's own models, `web/models.py`), and the services, systems and municipalities."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError

from simulator.serviceplatform import RouteTableError
from simulator.web.deps import RuntimeDep
from simulator.web.models import AgreementIn, Fault, RouteIn, problems_of
from simulator.web.ui.common import back, form_of, page_router, render

router = page_router()
PAGE = "/ui/config"


@router.get("/ui/config", response_class=HTMLResponse)
async def config(request: Request, rt: RuntimeDep) -> HTMLResponse:
    r = rt.routes
    return render(
        request,
        "config.html",
        "config",
        routes=sorted(r.routes.values(), key=lambda x: x.position),
        agreements=sorted(r.agreements.values(), key=lambda a: (a.service, a.municipality, a.system)),
        services=list(r.services.values()),
        systems=list(r.systems.values()),
        municipalities=list(r.municipalities.values()),
        handlers=sorted(rt.handlers),
        base_url=str(request.base_url).rstrip("/"),
    )


def _given(form: dict[str, str], *names: str) -> dict[str, Any]:
    """The named form fields that were filled in (an empty field is no value)."""
    return {n: form[n] for n in names if form.get(n)}


def _problem(e: Exception) -> str:
    return problems_of(e) if isinstance(e, ValidationError) else str(e)


@router.post("/ui/config/routes")
async def save_route(request: Request, rt: RuntimeDep) -> RedirectResponse:
    """Create or replace a route (service × municipality), with its fault injection."""
    form = await form_of(request)
    name = f"{form.get('service', '')}:{form.get('municipality', '')}"
    try:
        body = RouteIn(
            **_given(form, "service", "municipality", "target"),
            fault=Fault(**_given(form, "delay_ms", "soap_fault", "http_status", "drop_connection")),
        )
        existing = rt.routes.routes.get(f"{body.service}:{body.municipality}")
        route = await rt.routes.put_route(rt.db, body.to_route(existing.position if existing else 0))
    except (ValidationError, RouteTableError, ValueError) as e:
        return back(PAGE, err=f"route {name}: {_problem(e)}")
    what = f"fault {route.fault}" if route.fault else "no fault"
    return back(PAGE, msg=f"route {route.id} saved: {route.target}, {what}")


@router.post("/ui/config/agreements")
async def save_agreement(request: Request, rt: RuntimeDep) -> RedirectResponse:
    """Create or replace a serviceaftale (system × municipality × service), active or not."""
    form = await form_of(request)
    uuid = form.get("uuid", "")
    beskedtyper = [b.strip() for b in form.get("beskedtyper", "").split(",") if b.strip()] or None
    try:
        body = AgreementIn(
            **_given(form, "uuid", "system", "municipality", "service"),
            beskedtyper=beskedtyper,
            active=bool(form.get("active")),
        )
        ag = await rt.routes.put_agreement(rt.db, body.to_agreement())
    except (ValidationError, RouteTableError) as e:
        return back(PAGE, err=f"agreement {uuid}: {_problem(e)}")
    return back(PAGE, msg=f"agreement {ag.uuid} saved ({'active' if ag.active else 'inactive'})")


@router.post("/ui/config/{kind}/{key}/delete")
async def delete(rt: RuntimeDep, kind: Literal["routes", "agreements"], key: str) -> RedirectResponse:
    """Delete a route (`<service>:<municipality>`) or an agreement (its UUID)."""
    what = {"routes": "route", "agreements": "agreement"}[kind]
    gone = await (rt.routes.delete_route if kind == "routes" else rt.routes.delete_agreement)(rt.db, key)
    return back(PAGE, msg=f"{what} {key} deleted") if gone else back(PAGE, err=f"no {what} {key}")
