"""Admin API under /api: recorded traffic, verification, routes, agreements, fault injection.

Request and answer shapes are the pydantic models of `web/models.py` (shared with the UI's forms)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query

from simulator.capabilities import SortimentDelivery
from simulator.serviceplatform import RouteDef, RouteFileError, RouteTableError
from simulator.soap.contract import contract_names
from simulator.traffic import ExchangeFilter
from simulator.traffic.query import MAX_SEQ
from simulator.web.deps import RuntimeDep, require_admin
from simulator.web.models import (
    AgreementIn,
    AgreementOut,
    Deleted,
    DeletedCount,
    Exchange,
    ExchangePage,
    ExchangeQuery,
    Fault,
    MunicipalityOut,
    Reloaded,
    RouteIn,
    RouteOut,
    ServiceOut,
    SystemOut,
    Verification,
    VerificationResult,
)

router = APIRouter(dependencies=[Depends(require_admin)])


# -- traffic ---------------------------------------------------------------------------------------


@router.get("/exchanges", tags=["traffic"], response_model=ExchangePage)
async def exchanges(
    rt: RuntimeDep,
    q: Annotated[ExchangeQuery, Query()],
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    before: Annotated[
        int | None, Query(ge=0, le=MAX_SEQ, description="seq of the last row of the previous page")
    ] = None,
) -> dict:
    """Recorded exchanges, newest first, without bodies; page with `before=<next_before>`."""
    items = await rt.exchanges.page(q.to_filter(), limit=limit, before=before)
    return {"items": items, "next_before": items[-1]["seq"] if len(items) == limit else None}


@router.get("/exchanges/{exchange_id}", tags=["traffic"], response_model=Exchange)
async def exchange(rt: RuntimeDep, exchange_id: str) -> dict:
    """One exchange with its request and response bodies."""
    row = await rt.exchanges.get(exchange_id)
    if row is None:
        raise HTTPException(404, f"no exchange {exchange_id}")
    return row


@router.delete("/exchanges", tags=["traffic"], response_model=DeletedCount)
async def reset(rt: RuntimeDep) -> dict:
    """Forget every recorded exchange."""
    return {"deleted": await rt.exchanges.reset()}


@router.post("/verify", tags=["traffic"], response_model=VerificationResult, response_model_exclude_none=True)
async def verify(rt: RuntimeDep, v: Verification) -> dict:
    """Was a call matching these criteria made (exactly `count` times)? On failure, says what did match
    each criterion on its own, to show which one is off."""
    store = rt.exchanges
    criteria = v.model_dump(exclude={"count"}, exclude_none=True)
    found = await store.count(v.to_filter())
    ok = found == v.count if v.count is not None else found > 0
    out: dict = {"ok": ok, "expected": v.count if v.count is not None else ">=1", "found": found}
    if not ok:
        out["matches_per_criterion"] = {k: await store.count(ExchangeFilter(**{k: val})) for k, val in criteria.items()}
        out["recent"] = await store.page(ExchangeFilter(service=v.service), limit=5)
    return out


# -- configuration ---------------------------------------------------------------------------------


@router.get("/routes", tags=["configuration"], response_model=list[RouteOut])
async def routes(rt: RuntimeDep) -> list[RouteOut]:
    return [RouteOut.of(r) for r in sorted(rt.routes.routes.values(), key=lambda r: r.position)]


@router.put("/routes", tags=["configuration"], response_model=RouteOut)
async def put_route(rt: RuntimeDep, body: RouteIn) -> RouteOut:
    """Create or replace the route for service × municipality."""
    try:
        route = await rt.routes.put_route(rt.db, body.to_route())
    except (RouteTableError, ValueError) as e:
        raise HTTPException(422, str(e)) from None
    return RouteOut.of(route)


@router.post("/routes/reload", tags=["configuration"], response_model=Reloaded)
async def reload_routes(rt: RuntimeDep) -> Reloaded:
    """Read the route files again (they are the source of truth): new municipalities, the routes and agreements
    from the files, and new sortiment subscriptions take effect now (e.g. after `simulator municipality add`).
    Edits made through this API are kept. Changed services or systems need a restart (422 says so)."""
    try:
        await rt.routes.reload_files(rt.db, known_contracts=set(contract_names()))
        k = rt.find(SortimentDelivery)
        added = await k.reload_subscriptions() if k is not None else []
    except (RouteFileError, RouteTableError, ValueError) as e:
        raise HTTPException(422, str(e)) from None
    return Reloaded(
        directory=str(rt.routes.directory),
        municipalities=sorted(rt.routes.municipalities),
        routes=len(rt.routes.routes),
        agreements=len(rt.routes.agreements),
        subscriptions_added=added,
    )


@router.put("/routes/{route_id}/fault", tags=["configuration"], response_model=RouteOut)
async def put_fault(rt: RuntimeDep, route_id: str, body: Fault) -> RouteOut:
    """Inject a fault on a route (delay, SOAP fault, HTTP status, dropped connection); {} clears it."""
    route = rt.routes.routes.get(route_id)
    if route is None:
        raise HTTPException(404, f"no route {route_id}")
    try:
        fault = body.as_route_fault()
    except ValueError as e:
        raise HTTPException(422, str(e)) from None
    new = RouteDef(
        service=route.service,
        municipality=route.municipality,
        target=route.target,
        fault=fault,
        position=route.position,
    )
    return RouteOut.of(await rt.routes.put_route(rt.db, new))


@router.delete("/routes/{route_id}", tags=["configuration"], response_model=Deleted)
async def delete_route(rt: RuntimeDep, route_id: str) -> Deleted:
    if not await rt.routes.delete_route(rt.db, route_id):
        raise HTTPException(404, f"no route {route_id}")
    return Deleted(deleted=True)


@router.get("/agreements", tags=["configuration"], response_model=list[AgreementOut])
async def agreements(rt: RuntimeDep) -> list[AgreementOut]:
    return [AgreementOut.of(a) for a in rt.routes.agreements.values()]


@router.put("/agreements", tags=["configuration"], response_model=AgreementOut)
async def put_agreement(rt: RuntimeDep, body: AgreementIn) -> AgreementOut:
    try:
        ag = await rt.routes.put_agreement(rt.db, body.to_agreement())
    except RouteTableError as e:
        raise HTTPException(422, str(e)) from None
    return AgreementOut.of(ag)


@router.delete("/agreements/{uuid}", tags=["configuration"], response_model=Deleted)
async def delete_agreement(rt: RuntimeDep, uuid: str) -> Deleted:
    if not await rt.routes.delete_agreement(rt.db, uuid):
        raise HTTPException(404, f"no agreement {uuid}")
    return Deleted(deleted=True)


@router.get("/services", tags=["configuration"], response_model=list[ServiceOut])
async def services(rt: RuntimeDep) -> list[ServiceOut]:
    return [
        ServiceOut(**vars(s), wsdl=f"{rt.settings.base_url}{s.path}?wsdl" if s.transport == "soap" else None)
        for s in rt.routes.services.values()
    ]


@router.get("/systems", tags=["configuration"], response_model=list[SystemOut])
async def systems(rt: RuntimeDep) -> list[SystemOut]:
    return list(rt.routes.systems.values())


@router.get("/municipalities", tags=["configuration"], response_model=list[MunicipalityOut])
async def municipalities(rt: RuntimeDep) -> list[MunicipalityOut]:
    return list(rt.routes.municipalities.values())
