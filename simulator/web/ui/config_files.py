"""Export and import of the routes and agreements from the configuration page, as YAML in the format of the
route files (`routes/routes.yaml`, `routes/agreements.yaml`): what is in force now can be saved, shared, put
under version control or loaded into another simulator."""

from __future__ import annotations

from typing import Any, Literal

import yaml
from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from simulator.serviceplatform import RouteTableError
from simulator.serviceplatform.routefiles import check_agreement, check_route
from simulator.web.deps import RuntimeDep
from simulator.web.models import AgreementIn, RouteIn, problems_of
from simulator.web.ui.common import back, form_of, page_router

router = page_router()
PAGE = "/ui/config"
HEADERS = {
    "routes": "# Routes: service × municipality → where the platform sends the call (exported from the simulator).\n",
    "agreements": "# Service agreements (serviceaftaler): calling system × municipality × service (exported).\n",
}


def _routes(rt) -> list[dict[str, Any]]:
    out = []
    for r in sorted(rt.routes.routes.values(), key=lambda x: x.position):
        item = {"service": r.service, "municipality": r.municipality, "target": r.target}
        if r.fault:
            item["fault"] = dict(r.fault)
        out.append(item)
    return out


def _agreements(rt) -> list[dict[str, Any]]:
    out = []
    for a in sorted(rt.routes.agreements.values(), key=lambda a: (a.service, a.municipality, a.system)):
        item: dict[str, Any] = {"uuid": a.uuid, "system": a.system, "municipality": a.municipality}
        item["service"] = a.service
        if a.beskedtyper:
            item["beskedtyper"] = list(a.beskedtyper)
        if not a.active:
            item["active"] = False
        out.append(item)
    return out


def dump(doc: dict[str, Any]) -> str:
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=120)


@router.get("/ui/config/export/{what}.yaml")
async def export(rt: RuntimeDep, what: Literal["routes", "agreements"]) -> Response:
    """`routes.yaml` or `agreements.yaml` as in force now, to download."""
    items = _routes(rt) if what == "routes" else _agreements(rt)
    return Response(
        HEADERS[what] + dump({what: items}),
        media_type="application/yaml; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="{what}.yaml"'},
    )


def parse(text: str) -> tuple[list[RouteIn], list[AgreementIn]]:
    """The routes and agreements of a route file (either or both top-level keys); every problem at once."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ValueError(f"not YAML: {e}") from None
    if not isinstance(doc, dict) or not ({"routes", "agreements"} & doc.keys()):
        raise ValueError("a route file has a top-level 'routes:' or 'agreements:' list")
    problems: list[str] = []
    routes, agreements = [], []
    for key, model, into in (("routes", RouteIn, routes), ("agreements", AgreementIn, agreements)):
        items = doc.get(key) or []
        if not isinstance(items, list):
            problems.append(f"{key}: not a list")
            continue
        for i, item in enumerate(items, 1):
            try:
                if isinstance(item, dict) and "municipality" in item:
                    item = item | {"municipality": str(item["municipality"])}
                into.append(model.model_validate(item))
            except ValidationError as e:
                problems.append(f"{key} #{i}: {problems_of(e)}")
    if problems:
        raise ValueError("; ".join(problems))
    return routes, agreements


def _checked(rt, routes: list[RouteIn], agreements: list[AgreementIn]) -> tuple[list, list]:
    """The route table's own checks on every item before any is stored (all problems at once)."""
    table = rt.routes
    services, municipalities, systems = set(table.services), set(table.municipalities), set(table.systems)
    problems: list[str] = []
    made_routes, made_agreements = [], []
    for i, r in enumerate(routes, 1):
        try:
            route = r.to_route()
        except ValueError as e:
            problems.append(f"routes #{i}: {e}")
            continue
        if problem := check_route(route, services, municipalities):
            problems.append(f"routes #{i}: {problem}")
        made_routes.append(route)
    for i, a in enumerate(agreements, 1):
        ag = a.to_agreement()
        try:
            ag.system = table.system_key(ag.system)
        except RouteTableError as e:
            problems.append(f"agreements #{i}: {e}")
            continue
        if problem := check_agreement(ag, services, systems, municipalities):
            problems.append(f"agreements #{i}: {problem}")
        made_agreements.append(ag)
    if problems:
        raise ValueError("; ".join(problems))
    return made_routes, made_agreements


@router.post("/ui/config/import")
async def import_(request: Request, rt: RuntimeDep) -> RedirectResponse:
    """Create or replace the routes and agreements of a YAML route file; nothing changes when one is wrong."""
    text = (await form_of(request)).get("yaml", "")
    try:
        routes, agreements = parse(text)
        made_routes, made_agreements = _checked(rt, routes, agreements)
    except ValueError as e:
        return back(PAGE, err=f"import refused, nothing changed: {e}")
    done = 0
    try:
        for route in made_routes:
            await rt.routes.put_route(rt.db, route)
            done += 1
        for ag in made_agreements:
            await rt.routes.put_agreement(rt.db, ag)
            done += 1
    except (RouteTableError, ValueError) as e:
        return back(PAGE, err=f"import stopped after {done} item(s): {e}")
    return back(PAGE, msg=f"imported {len(made_routes)} route(s) and {len(made_agreements)} agreement(s)")
