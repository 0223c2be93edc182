"""HTTP surfaces of the Beskedfordeler.

Public (protocol) endpoints under /beskedfordeler: send (`POST /beskedfordeler/afsend`) and the HTTP pull
API for the embedded mode. Admin endpoints under /api/beskedfordeler: messages, dueslag, abonnementer,
delivery attempts, error queue, resume, what KY received.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import select

from simulator.beskedfordeler.config import Abonnement, Dueslag
from simulator.beskedfordeler.models import BfBesked, BfForsoeg, BfKyModtaget, BfLevering
from simulator.beskedfordeler.service import Beskedfordeler, Credentials, Refusal
from simulator.store import where_equal
from simulator.web.deps import Before, RuntimeDep, client_cert_of, presents_admin_token, require_admin

public_router = APIRouter(prefix="/beskedfordeler", tags=["beskedfordeler"])
admin_router = APIRouter(prefix="/beskedfordeler", tags=["beskedfordeler"], dependencies=[Depends(require_admin)])

XML = "application/xml; charset=utf-8"


def _bf(rt) -> Beskedfordeler:
    bf = rt.find(Beskedfordeler)
    if bf is None:
        raise HTTPException(503, "the Beskedfordeler is not running")
    return bf


def _dueslag(bf: Beskedfordeler, uuid: str) -> Dueslag:
    d = bf.dueslag.get(uuid)
    if d is None:
        raise HTTPException(404, f"no dueslag {uuid}")
    return d


async def _receiver(rt: RuntimeDep, request: Request, uuid: str) -> Dueslag:
    """The dueslag of a pull request. Under a security model only its receiving system (its token or TLS
    client certificate, as for sending) or the admin token may pull from it and acknowledge."""
    bf = _bf(rt)
    d = _dueslag(bf, uuid)
    if bf.sender_verifier is None or presents_admin_token(request):
        return d
    query = request.url.query
    signed = f"{request.method} {request.url.path}{'?' + query if query else ''}\n".encode() + await request.body()
    try:
        proven = await bf.sender_verifier(
            Credentials(dict(request.headers), "http", client_cert_of(request.scope), signed)
        )
    except Refusal as r:
        raise HTTPException(
            401, f"pulling from a dueslag needs the receiving system's credentials: {r.retur.fejlbesked}"
        ) from None
    if proven.system != d.system:
        raise HTTPException(
            403, f"dueslag {uuid} belongs to system '{d.system}'; the {proven.model} identifies '{proven.system}'"
        )
    return d


ReceiverDueslag = Annotated[Dueslag, Depends(_receiver)]


# -- public ------------------------------------------------------------------------------------------------


@public_router.post(
    "/afsend",
    response_class=Response,
    responses={200: {"content": {"application/xml": {}}, "description": "StandardRetur (urn:oio:sagdok:3.0.0)"}},
)
async def afsend(rt: RuntimeDep, request: Request) -> Response:
    """Send one Haendelsesbesked (the body, UTF-8 XML) as over AMQP. The answer is always HTTP 200 with
    the StandardRetur: StatusKode 20 = accepted, otherwise a code and FejlbeskedTekst. Under a security model
    the token (header `token`) or the TLS client certificate names the sender (docs/security.md); without one,
    header `x-simulator-system` (key or UUID), or a known system UUID in Kildesystem/BeskedAnsvarligAktoer."""
    bf = _bf(rt)
    body = await request.body()
    retur = await bf.afsend(
        body,
        dict(request.headers),
        channel="http",
        correlation_id=request.headers.get("x-correlation-id"),
        client_cert=client_cert_of(request.scope),
    )
    return Response(retur.xml(), media_type=XML, headers={"x-statuskode": str(retur.status)})


class KvitteringerIn(BaseModel):
    """The pulled messages to acknowledge (kvitter) or refuse (afvis): the receiver's reply, not an SF2900 receipt."""

    kvitteringer: list[str] = Field(description="the `kvittering` values from hent")
    requeue: bool = Field(True, description="afvis only: false moves the messages to the error queue")


@public_router.post("/dueslag/{uuid}/hent")
async def hent(
    rt: RuntimeDep,
    d: ReceiverDueslag,
    antal: Annotated[int, Query(ge=1, le=500)] = 1,
    lease_s: Annotated[float, Query(gt=0, le=3600)] = 60.0,
) -> dict[str, Any]:
    """Pull up to `antal` messages from a dueslag. Each must be acknowledged (`kvitter`) or refused
    (`afvis`) within `lease_s` seconds, otherwise it returns to the dueslag (like an unacked AMQP message)."""
    return {"beskeder": await _bf(rt).hent(d.uuid, antal, lease_s)}


@public_router.post("/dueslag/{uuid}/kvitter")
async def kvitter(rt: RuntimeDep, d: ReceiverDueslag, body: KvitteringerIn) -> dict[str, Any]:
    """Acknowledge pulled messages: they leave the dueslag for good."""
    return await _bf(rt).kvitter(d.uuid, body.kvitteringer, ack=True)


@public_router.post("/dueslag/{uuid}/afvis")
async def afvis(rt: RuntimeDep, d: ReceiverDueslag, body: KvitteringerIn) -> dict[str, Any]:
    """Refuse pulled messages: back to the dueslag (requeue) or to its error queue (requeue false)."""
    return await _bf(rt).kvitter(d.uuid, body.kvitteringer, ack=False, requeue=body.requeue)


# -- admin -------------------------------------------------------------------------------------------------


@admin_router.get("/status")
async def status(rt: RuntimeDep) -> dict[str, Any]:
    bf = _bf(rt)
    return await bf.health()


@admin_router.get("/returkoder")
async def returkoder() -> list[dict[str, Any]]:
    """Every refusal code with its StatusKode and meaning."""
    from simulator.beskedfordeler.service import RETUR_CODES

    return [{"code": c, "statuskode": s, "meaning": m} for c, (s, m) in RETUR_CODES.items()]


@admin_router.get("/beskedtyper")
async def beskedtyper(rt: RuntimeDep) -> list[dict[str, Any]]:
    bf = _bf(rt)
    return [
        {
            "name": b.name,
            "uuid": b.uuid,
            "namespace": b.namespace,
            "schema": b.schema.name if b.schema else None,
            "description": b.description,
        }
        for b in bf.cfg.beskedtyper.values()
    ]


def _levering_out(r: BfLevering) -> dict[str, Any]:
    return {
        "seq": r.seq,
        "besked_id": r.besked_id,
        "dueslag": r.dueslag,
        "abonnement": r.abonnement,
        "state": r.state,
        "tilladte_modtagere": r.tilladte_modtagere,
        "attempts": r.attempts,
        "updated_at": r.updated_at,
    }


@admin_router.get("/beskeder")
async def beskeder(
    rt: RuntimeDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    system: str | None = None,
    municipality: str | None = None,
) -> list[dict[str, Any]]:
    """Accepted messages, newest first."""
    q = where_equal(
        select(BfBesked).order_by(BfBesked.seq.desc()).limit(limit), BfBesked, system=system, municipality=municipality
    )
    async with rt.db.session() as s:
        rows = (await s.scalars(q)).all()
    return [
        {
            "besked_id": r.besked_id,
            "received_at": r.received_at,
            "channel": r.channel,
            "system": r.system,
            "municipality": r.municipality,
            "beskedtype": r.beskedtype,
            "transaktions_id": r.transaktions_id,
        }
        for r in rows
    ]


@admin_router.get("/beskeder/{besked_id}")
async def besked(rt: RuntimeDep, besked_id: str) -> dict[str, Any]:
    """One accepted message with its body, its copies per dueslag and every delivery attempt."""
    async with rt.db.session() as s:
        r = await s.scalar(select(BfBesked).where(BfBesked.besked_id == besked_id))
        if r is None:
            raise HTTPException(404, f"no accepted message {besked_id}")
        levs = (await s.scalars(select(BfLevering).where(BfLevering.besked_id == besked_id))).all()
        tries = (
            await s.scalars(select(BfForsoeg).where(BfForsoeg.besked_id == besked_id).order_by(BfForsoeg.seq))
        ).all()
    return {
        "besked_id": r.besked_id,
        "received_at": r.received_at,
        "channel": r.channel,
        "system": r.system,
        "municipality": r.municipality,
        "beskedtype": r.beskedtype,
        "transaktions_id": r.transaktions_id,
        "body": r.body,
        "leveringer": [_levering_out(x) for x in levs],
        "forsoeg": [_forsoeg_out(x) for x in tries],
    }


def _forsoeg_out(r: BfForsoeg) -> dict[str, Any]:
    return {
        "seq": r.seq,
        "besked_id": r.besked_id,
        "dueslag": r.dueslag,
        "attempt": r.attempt,
        "at": r.at,
        "target": r.target,
        "outcome": r.outcome,
        "http_status": r.http_status,
        "statuskode": r.statuskode,
        "detail": r.detail,
        "duration_ms": r.duration_ms,
    }


@admin_router.get("/dueslag")
async def dueslag_list(rt: RuntimeDep) -> list[dict[str, Any]]:
    """Every dueslag with its queue depths and, for push, whether delivery is stopped and why."""
    bf = _bf(rt)
    return [
        d.out()
        | {
            "stopped": bf.stopped.get(d.uuid),
            "depth": await bf.broker.depth(d.uuid),
            "abonnementer": [a.uuid for a in bf.abonnementer.values() if a.dueslag == d.uuid],
        }
        for d in bf.dueslag.values()
    ]


class DueslagIn(BaseModel):
    uuid: str
    system: str
    levering: Literal["pull", "push"] = "pull"
    callback: str | None = None
    navn: str = ""
    pause_s: float | None = None


@admin_router.put("/dueslag")
async def put_dueslag(rt: RuntimeDep, body: DueslagIn) -> dict[str, Any]:
    bf = _bf(rt)
    try:
        return (await bf.put_dueslag(Dueslag(**body.model_dump()))).out()
    except ValueError as e:
        raise HTTPException(422, str(e)) from None


@admin_router.delete("/dueslag/{uuid}")
async def delete_dueslag(rt: RuntimeDep, uuid: str) -> dict[str, bool]:
    bf = _bf(rt)
    try:
        if not await bf.delete_dueslag(uuid):
            raise HTTPException(404, f"no dueslag {uuid}")
    except ValueError as e:
        raise HTTPException(409, str(e)) from None
    return {"deleted": True}


@admin_router.get("/dueslag/{uuid}/forsoeg")
async def forsoeg(
    rt: RuntimeDep, uuid: str, before: Before = None, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> list[dict]:
    """Push delivery attempts of a dueslag, newest first. Page on with `before` = the last item's `seq`."""
    q = select(BfForsoeg).where(BfForsoeg.dueslag == uuid).order_by(BfForsoeg.seq.desc()).limit(limit)
    if before is not None:
        q = q.where(BfForsoeg.seq < before)
    async with rt.db.session() as s:
        rows = (await s.scalars(q)).all()
    return [_forsoeg_out(r) for r in rows]


@admin_router.get("/dueslag/{uuid}/leveringer")
async def leveringer(
    rt: RuntimeDep,
    uuid: str,
    state: str | None = None,
    before: Before = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    """Copies for a dueslag (state pending | queued | acked | delivered | fejlkoe), newest first. Page on
    with `before` = the last item's `seq`."""
    q = select(BfLevering).where(BfLevering.dueslag == uuid).order_by(BfLevering.seq.desc()).limit(limit)
    if state:
        q = q.where(BfLevering.state == state)
    if before is not None:
        q = q.where(BfLevering.seq < before)
    async with rt.db.session() as s:
        return [_levering_out(r) for r in (await s.scalars(q)).all()]


class BeskedRef(BaseModel):
    besked_id: str | None = Field(None, description="the BeskedId; empty = the first message in the queue")


@admin_router.post("/dueslag/{uuid}/flytbeskedtilfejlkoe")
async def flyt(rt: RuntimeDep, uuid: str, body: BeskedRef) -> dict[str, Any]:
    """Move a message from the dueslag to its error queue (like SOAP flytbeskedtilfejlkoe)."""
    bf = _bf(rt)
    _dueslag(bf, uuid)
    moved = await bf.flyt_til_fejlkoe(uuid, body.besked_id)
    if moved is None:
        raise HTTPException(404, "no such message in the dueslag queue")
    return {"moved": moved}


@admin_router.post("/dueslag/{uuid}/fejlkoe/gensend")
async def gensend(rt: RuntimeDep, uuid: str, body: BeskedRef) -> dict[str, Any]:
    """Put messages back from the error queue into the dueslag (one by BeskedId, or all)."""
    bf = _bf(rt)
    _dueslag(bf, uuid)
    return {"moved": await bf.gensend_fra_fejlkoe(uuid, body.besked_id)}


@admin_router.post("/dueslag/{uuid}/genoptag")
async def genoptag(rt: RuntimeDep, uuid: str) -> dict[str, Any]:
    """Resume push delivery of a stopped dueslag."""
    bf = _bf(rt)
    if _dueslag(bf, uuid).levering != "push":
        raise HTTPException(409, "only push dueslag are delivered by the Beskedfordeler")
    await bf.genoptag(uuid)
    return {"resumed": uuid}


@admin_router.get("/abonnementer")
async def abonnementer(rt: RuntimeDep) -> list[dict[str, Any]]:
    return [a.out() for a in _bf(rt).abonnementer.values()]


class AbonnementIn(BaseModel):
    uuid: str
    dueslag: str
    beskedtyper: list[str]
    filtre: dict[str, list[str]] = Field(default_factory=dict)
    navn: str = ""


@admin_router.put("/abonnementer")
async def put_abonnement(rt: RuntimeDep, body: AbonnementIn) -> dict[str, Any]:
    bf = _bf(rt)
    try:
        return (await bf.put_abonnement(Abonnement(**body.model_dump()))).out()
    except ValueError as e:
        raise HTTPException(422, str(e)) from None


@admin_router.delete("/abonnementer/{uuid}")
async def delete_abonnement(rt: RuntimeDep, uuid: str) -> dict[str, bool]:
    if not await _bf(rt).delete_abonnement(uuid):
        raise HTTPException(404, f"no abonnement {uuid}")
    return {"deleted": True}


@admin_router.get("/ky/modtaget")
async def ky_modtaget(
    rt: RuntimeDep, limit: Annotated[int, Query(ge=1, le=1000)] = 100, beskedtype: str | None = None
) -> list[dict[str, Any]]:
    """What the simulated KY received from its dueslag (status changes, claims open for payment)."""
    q = select(BfKyModtaget).order_by(BfKyModtaget.seq.desc()).limit(limit)
    if beskedtype:
        q = q.where(BfKyModtaget.beskedtype == beskedtype)
    async with rt.db.session() as s:
        rows = (await s.scalars(q)).all()
    return [
        {
            "besked_id": r.besked_id,
            "beskedtype": r.beskedtype,
            "municipality": r.municipality,
            "received_at": r.received_at,
            "data": r.data,
        }
        for r in rows
    ]
