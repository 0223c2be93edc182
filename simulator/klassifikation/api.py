"""Admin API under /api/klassifikation: the sortiment (read, edit → new version → delivery),
subscriptions (what each debtor system has acknowledged) and the delivery record."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel, Field

from simulator.klassifikation import schemas as o
from simulator.klassifikation.delivery import SubscriptionError, delivery_dict
from simulator.klassifikation.service import Klassifikation
from simulator.klassifikation.sortiment import SortimentError, SortimentVersion
from simulator.web.deps import RuntimeDep, require_admin

router = APIRouter(prefix="/klassifikation", tags=["klassifikation"], dependencies=[Depends(require_admin)])


def _k(rt) -> Klassifikation:
    k = rt.find(Klassifikation)
    if k is None or k.state is None:
        reason = k.disabled_reason if k is not None else "the component did not start"
        raise HTTPException(503, f"Klassifikation is not available: {reason}")
    return k


def _version_summary(v: SortimentVersion) -> dict[str, Any]:
    return {
        "version": v.version,
        "tidspunkt": v.tidspunkt.isoformat(),
        "note": v.note,
        "origin": v.origin,
        "klasser": len(v.klasser),
        "aendringer": v.aendringer,
    }


# -- the sortiment -----------------------------------------------------------------------------------


@router.get("/sortiment", response_model=o.SortimentOut)
async def sortiment(rt: RuntimeDep) -> dict[str, Any]:
    """The current version as a tree per Facet (retired Klasser included, with their end of Virkning)."""
    k = _k(rt)
    v = k.state.current
    return {
        "uuid": v.sortiment.uuid,
        "brugervendt_noegle": v.sortiment.brugervendt_noegle,
        "titel": v.sortiment.titel,
        **_version_summary(v),
        "facetter": k.state.tree(),
    }


@router.get("/sortiment/versions", response_model=list[o.VersionSummary])
async def versions(rt: RuntimeDep) -> list[dict[str, Any]]:
    """Every version with the change set that made it."""
    return [_version_summary(v) for v in _k(rt).state.versions]


@router.get("/sortiment/versions/{number}", response_model=o.SortimentSnapshot)
async def version(rt: RuntimeDep, number: int) -> dict[str, Any]:
    """One version's full snapshot."""
    try:
        return _k(rt).state.version(number).to_json()
    except SortimentError as e:
        raise HTTPException(404, str(e)) from None


class ChangeSet(BaseModel):
    aendringer: list[dict[str, Any]] = Field(description="changes: {handling: tilfoej|ret|udgaa, …} (see docs)")
    note: str = ""


async def _edit(rt, aendringer: list[dict[str, Any]], note: str) -> dict[str, Any]:
    k = _k(rt)
    try:
        v = await k.state.edit(aendringer, note=note)
    except SortimentError as e:
        raise HTTPException(422, str(e)) from None
    return _version_summary(v)


@router.post("/sortiment/aendringer", status_code=201, response_model=o.VersionSummary)
async def change_set(rt: RuntimeDep, body: ChangeSet) -> dict[str, Any]:
    """Apply several changes as one new version; every subscriber then gets the change."""
    return await _edit(rt, body.aendringer, body.note)


@router.get("/klasser", response_model=list[o.KlasseOut])
async def klasser(rt: RuntimeDep, facet: str | None = None, udgaaet: bool | None = None) -> list[dict[str, Any]]:
    """The current version's Klasser, flat (filter by Facet UUID/BrugervendtNoegle and retirement)."""
    v = _k(rt).state.current
    try:
        facet_uuid = v.facet(facet).uuid if facet else None
    except SortimentError as e:
        raise HTTPException(404, str(e)) from None
    return [
        kl.to_json()
        for kl in v.klasser.values()
        if (facet_uuid is None or kl.facet == facet_uuid) and (udgaaet is None or kl.udgaaet == udgaaet)
    ]


@router.get("/klasser/{ref}", response_model=o.KlasseDetail)
async def klasse(rt: RuntimeDep, ref: str) -> dict[str, Any]:
    """One Klasse (by UUID or BrugervendtNoegle) and the versions that changed it."""
    k = _k(rt)
    try:
        kl = k.state.current.klasse(ref)
    except SortimentError as e:
        raise HTTPException(404, str(e)) from None
    return kl.to_json() | {"versions": [v.version for v in k.state.history(kl.uuid)]}


class KlasseIn(BaseModel):
    brugervendt_noegle: str
    titel: str
    beskrivelse: str = ""
    facet: str = Field(description="Facet UUID or BrugervendtNoegle")
    overordnet: str | None = Field(None, description="parent Klasse UUID or BrugervendtNoegle")
    uuid: str | None = None
    virkning_fra: datetime | None = None
    note: str = ""


@router.post("/klasser", status_code=201, response_model=o.VersionSummary)
async def add_klasse(rt: RuntimeDep, body: KlasseIn) -> dict[str, Any]:
    """Add a Klasse: a new version, delivered to every subscriber as a change."""
    raw = body.model_dump(exclude={"note"}, exclude_none=True)
    return await _edit(rt, [{"handling": "tilfoej", "klasse": raw}], body.note)


class KlasseChange(BaseModel):
    brugervendt_noegle: str | None = None
    titel: str | None = None
    beskrivelse: str | None = None
    overordnet: str | None = None
    aendringsnotat: str | None = None
    note: str = ""


@router.patch("/klasser/{ref}", response_model=o.VersionSummary)
async def change_klasse(rt: RuntimeDep, ref: str, body: KlasseChange) -> dict[str, Any]:
    """Change a Klasse's texts or parent: a new version, delivered as a change."""
    felter = body.model_dump(exclude={"note", "aendringsnotat"}, exclude_none=True)
    return await _edit(
        rt, [{"handling": "ret", "klasse": ref, "felter": felter, "aendringsnotat": body.aendringsnotat}], body.note
    )


class Retirement(BaseModel):
    virkning_til: datetime | None = Field(None, description="end of Virkning; default now")
    aendringsnotat: str | None = None
    note: str = ""


@router.post("/klasser/{ref}/udgaa", response_model=o.VersionSummary)
async def retire_klasse(rt: RuntimeDep, ref: str, body: Retirement | None = None) -> dict[str, Any]:
    """Retire a Klasse: its Virkning ends (it stays in the sortiment); delivered as a change."""
    body = body or Retirement()
    change: dict[str, Any] = {"handling": "udgaa", "klasse": ref, "aendringsnotat": body.aendringsnotat}
    if body.virkning_til:
        change["virkning_til"] = body.virkning_til.isoformat()
    return await _edit(rt, [change], body.note)


# -- subscriptions and deliveries ---------------------------------------------------------------------


@router.get("/subscriptions", response_model=list[o.SubscriptionOut])
async def subscriptions(rt: RuntimeDep) -> list[dict[str, Any]]:
    """Every subscriber with the version it acknowledged, whether it is up to date, and its last error."""
    k = _k(rt)
    current = k.state.current.version
    return [s.as_dict(current) for s in k.deliverer.subscriptions.values()]


class SubscriptionIn(BaseModel):
    active: bool = True


@router.put("/subscriptions/{municipality}/{system}", response_model=o.SubscriptionOut)
async def put_subscription(
    rt: RuntimeDep, municipality: str, system: str, body: SubscriptionIn | None = None
) -> dict[str, Any]:
    """Subscribe a debtor system for a municipality (it then gets the whole sortiment), or pause it."""
    k = _k(rt)
    try:
        sub = await k.deliverer.put(municipality, system, active=(body or SubscriptionIn()).active)
    except SubscriptionError as e:
        raise HTTPException(422, str(e)) from None
    return sub.as_dict(k.state.current.version)


@router.delete("/subscriptions/{municipality}/{system}", status_code=204)
async def delete_subscription(rt: RuntimeDep, municipality: str, system: str) -> None:
    if not await _k(rt).deliverer.remove(f"{municipality}:{system}"):
        raise HTTPException(404, f"no subscription {municipality}:{system}")


@router.post("/subscriptions/{municipality}/{system}/resend", response_model=o.SubscriptionOut)
async def resend(rt: RuntimeDep, municipality: str, system: str) -> dict[str, Any]:
    """Send the whole sortiment again (forget what the subscriber acknowledged)."""
    k = _k(rt)
    try:
        sub = await k.deliverer.resend(f"{municipality}:{system}")
    except KeyError:
        raise HTTPException(404, f"no subscription {municipality}:{system}") from None
    return sub.as_dict(k.state.current.version)


@router.post("/subscriptions/{municipality}/{system}/retry", response_model=o.RetryOut)
async def retry(rt: RuntimeDep, municipality: str, system: str) -> dict[str, Any]:
    """Deliver now what the subscriber lacks instead of waiting out the backoff; answers the subscription and
    the attempt (`delivery`: null when it is up to date or paused)."""
    k = _k(rt)
    try:
        sub, row = await k.deliverer.retry_now(f"{municipality}:{system}")
    except KeyError:
        raise HTTPException(404, f"no subscription {municipality}:{system}") from None
    return sub.as_dict(k.state.current.version) | {"delivery": delivery_dict(row) if row is not None else None}


@router.get("/deliveries", response_model=list[o.DeliveryOut])
async def deliveries(
    rt: RuntimeDep,
    subscription: Annotated[str | None, Query(description="<cvr>:<system>")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[dict[str, Any]]:
    """Delivery attempts, newest first, with the receiver's receipt and the recorded exchange's id."""
    return await _k(rt).deliverer.deliveries(subscription=subscription, limit=limit)
