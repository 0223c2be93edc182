"""Configuration (`/ui/config`): routes with their fault injection and agreements, editable (validated by
the admin API's own models, `web/models.py`), and the services, systems and municipalities."""

from __future__ import annotations

from typing import Any

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
    except ValidationError as e:
        return back(PAGE, err=f"route {name}: {problems_of(e)}")
    except (RouteTableError, ValueError) as e:
        return back(PAGE, err=f"route {name}: {e}")
    what = f"fault {route.fault}" if route.fault else "no fault"
    return back(PAGE, msg=f"route {route.id} saved: {route.target}, {what}")


@router.post("/ui/config/routes/{route_id}/delete")
async def delete_route(rt: RuntimeDep, route_id: str) -> RedirectResponse:
    if not await rt.routes.delete_route(rt.db, route_id):
        return back(PAGE, err=f"no route {route_id}")
    return back(PAGE, msg=f"route {route_id} deleted")


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
    except ValidationError as e:
        return back(PAGE, err=f"agreement {uuid}: {problems_of(e)}")
    except RouteTableError as e:
        return back(PAGE, err=f"agreement {uuid}: {e}")
    return back(PAGE, msg=f"agreement {ag.uuid} saved ({'active' if ag.active else 'inactive'})")


@router.post("/ui/config/agreements/{uuid}/delete")
async def delete_agreement(rt: RuntimeDep, uuid: str) -> RedirectResponse:
    if not await rt.routes.delete_agreement(rt.db, uuid):
        return back(PAGE, err=f"no agreement {uuid}")
    return back(PAGE, msg=f"agreement {uuid} deleted")
