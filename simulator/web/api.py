"""Admin API under /api: recorded traffic, verification, routes, agreements, fault injection."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel, Field

from simulator.serviceplatform import AgreementDef, RouteDef, RouteTableError
from simulator.serviceplatform.routefiles import check_fault
from simulator.traffic.query import (
    MAX_SEQ,
    ExchangeFilter,
    count_exchanges,
    get_exchange,
    list_exchanges,
    reset_exchanges,
)
from simulator.web.deps import RuntimeDep, require_admin

router = APIRouter(dependencies=[Depends(require_admin)])


# -- traffic ---------------------------------------------------------------------------------------


class ExchangeQuery(BaseModel):
    service: str | None = None
    operation: str | None = None
    municipality: str | None = None
    system_uuid: str | None = None
    status: Literal["ok", "fault"] | None = None
    fault_code: str | None = None
    decision: str | None = None
    origin: str | None = None
    session: str | None = None
    correlation_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def to_filter(self) -> ExchangeFilter:
        return ExchangeFilter(**self.model_dump(include=set(ExchangeQuery.model_fields)))


@router.get("/exchanges", tags=["traffic"])
async def exchanges(
    rt: RuntimeDep,
    q: Annotated[ExchangeQuery, Query()],
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    before: Annotated[
        int | None, Query(ge=0, le=MAX_SEQ, description="seq of the last row of the previous page")
    ] = None,
) -> dict[str, Any]:
    """Recorded exchanges, newest first, without bodies; page with `before=<next_before>`."""
    await rt.recorder.flush()
    items = await list_exchanges(rt.db, q.to_filter(), limit=limit, before=before)
    return {"items": items, "next_before": items[-1]["seq"] if len(items) == limit else None}


@router.get("/exchanges/{exchange_id}", tags=["traffic"])
async def exchange(rt: RuntimeDep, exchange_id: str) -> dict[str, Any]:
    """One exchange with its request and response bodies."""
    await rt.recorder.flush()
    row = await get_exchange(rt.db, exchange_id)
    if row is None:
        raise HTTPException(404, f"no exchange {exchange_id}")
    return row


@router.delete("/exchanges", tags=["traffic"])
async def reset(rt: RuntimeDep) -> dict[str, int]:
    """Forget every recorded exchange."""
    await rt.recorder.flush()
    return {"deleted": await reset_exchanges(rt.db)}


class Verification(ExchangeQuery):
    count: int | None = Field(default=None, ge=0, description="exact number expected; default: at least one")


@router.post("/verify", tags=["traffic"])
async def verify(rt: RuntimeDep, v: Verification) -> dict[str, Any]:
    """Was a call matching these criteria made (exactly `count` times)? On failure, says what did match
    each criterion on its own, to show which one is off."""
    await rt.recorder.flush()
    criteria = v.model_dump(exclude={"count"}, exclude_none=True)
    found = await count_exchanges(rt.db, v.to_filter())
    ok = found == v.count if v.count is not None else found > 0
    out: dict[str, Any] = {"ok": ok, "expected": v.count if v.count is not None else ">=1", "found": found}
    if not ok:
        out["matches_per_criterion"] = {
            k: await count_exchanges(rt.db, ExchangeFilter(**{k: val})) for k, val in criteria.items()
        }
        out["recent"] = await list_exchanges(rt.db, ExchangeFilter(service=v.service), limit=5)
    return out


# -- configuration ---------------------------------------------------------------------------------


class Fault(BaseModel):
    delay_ms: int | None = Field(default=None, ge=0)
    soap_fault: str | None = Field(default=None, description="answer with a SOAP fault with this ErrorCode")
    http_status: int | None = Field(default=None, ge=400, le=599)
    drop_connection: bool | None = None


class RouteIn(BaseModel):
    service: str
    municipality: str = Field(description="CVR, or * for every municipality without its own route")
    target: str = Field(description="builtin:<handler> or a provider URL")
    fault: Fault | None = None


def _route_out(r: RouteDef) -> dict[str, Any]:
    return {
        "id": r.id,
        "service": r.service,
        "municipality": r.municipality,
        "target": r.target,
        "fault": r.fault,
        "origin": r.origin,
        "position": r.position,
    }


@router.get("/routes", tags=["configuration"])
async def routes(rt: RuntimeDep) -> list[dict[str, Any]]:
    return [_route_out(r) for r in sorted(rt.routes.routes.values(), key=lambda r: r.position)]


@router.put("/routes", tags=["configuration"])
async def put_route(rt: RuntimeDep, body: RouteIn) -> dict[str, Any]:
    """Create or replace the route for service × municipality."""
    fault = body.fault.model_dump(exclude_none=True) if body.fault else None
    try:
        route = await rt.routes.put_route(
            rt.db,
            RouteDef(service=body.service, municipality=body.municipality, target=body.target, fault=fault or None),
        )
    except RouteTableError as e:
        raise HTTPException(422, str(e)) from None
    return _route_out(route)


@router.put("/routes/{route_id}/fault", tags=["configuration"])
async def put_fault(rt: RuntimeDep, route_id: str, body: Fault) -> dict[str, Any]:
    """Inject a fault on a route (delay, SOAP fault, HTTP status, dropped connection); {} clears it."""
    route = rt.routes.routes.get(route_id)
    if route is None:
        raise HTTPException(404, f"no route {route_id}")
    fault = body.model_dump(exclude_none=True) or None
    if fault and (problem := check_fault(fault)):
        raise HTTPException(422, problem)
    new = RouteDef(
        service=route.service,
        municipality=route.municipality,
        target=route.target,
        fault=fault,
        position=route.position,
    )
    return _route_out(await rt.routes.put_route(rt.db, new))


@router.delete("/routes/{route_id}", tags=["configuration"])
async def delete_route(rt: RuntimeDep, route_id: str) -> dict[str, bool]:
    if not await rt.routes.delete_route(rt.db, route_id):
        raise HTTPException(404, f"no route {route_id}")
    return {"deleted": True}


class AgreementIn(BaseModel):
    uuid: str
    system: str = Field(description="system key or UUID")
    municipality: str
    service: str
    beskedtyper: list[str] | None = None
    active: bool = True


def _agreement_out(a: AgreementDef) -> dict[str, Any]:
    return {
        "uuid": a.uuid,
        "system": a.system,
        "municipality": a.municipality,
        "service": a.service,
        "beskedtyper": a.beskedtyper,
        "active": a.active,
        "origin": a.origin,
    }


@router.get("/agreements", tags=["configuration"])
async def agreements(rt: RuntimeDep) -> list[dict[str, Any]]:
    return [_agreement_out(a) for a in rt.routes.agreements.values()]


@router.put("/agreements", tags=["configuration"])
async def put_agreement(rt: RuntimeDep, body: AgreementIn) -> dict[str, Any]:
    try:
        ag = await rt.routes.put_agreement(rt.db, AgreementDef(**body.model_dump()))
    except RouteTableError as e:
        raise HTTPException(422, str(e)) from None
    return _agreement_out(ag)


@router.delete("/agreements/{uuid}", tags=["configuration"])
async def delete_agreement(rt: RuntimeDep, uuid: str) -> dict[str, bool]:
    if not await rt.routes.delete_agreement(rt.db, uuid):
        raise HTTPException(404, f"no agreement {uuid}")
    return {"deleted": True}


@router.get("/services", tags=["configuration"])
async def services(rt: RuntimeDep) -> list[dict[str, Any]]:
    return [
        vars(s) | {"wsdl": f"{rt.settings.base_url}{s.path}?wsdl" if s.transport == "soap" else None}
        for s in rt.routes.services.values()
    ]


@router.get("/systems", tags=["configuration"])
async def systems(rt: RuntimeDep) -> list[dict[str, Any]]:
    return [vars(s) for s in rt.routes.systems.values()]


@router.get("/municipalities", tags=["configuration"])
async def municipalities(rt: RuntimeDep) -> list[dict[str, Any]]:
    return [vars(m) for m in rt.routes.municipalities.values()]
