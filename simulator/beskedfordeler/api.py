"""HTTP surfaces of the Beskedfordeler.

Public (protocol) endpoints under /beskedfordeler: send (`POST /beskedfordeler/afsend`) and the HTTP pull
API for the embedded mode. Admin endpoints under /api/beskedfordeler: messages, dueslag, abonnementer,
delivery attempts, error queue, resume (what the simulated KY received: simulator/ky/besked_receiver.py).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response

from simulator.beskedfordeler.answers import RETUR_CODES, BeskedRefusal, Credentials
from simulator.beskedfordeler.config import Abonnement, Dueslag
from simulator.beskedfordeler.schemas import (
    AbonnementIn,
    AbonnementOut,
    BeskedDetail,
    BeskedOut,
    BeskedRef,
    BeskedtypeOut,
    Deleted,
    DueslagIn,
    DueslagOut,
    DueslagState,
    ForsoegOut,
    HentSvar,
    KvitteringerIn,
    KvitteringSvar,
    LeveringOut,
    Moved,
    MovedBack,
    Resumed,
    Returkode,
    Status,
)
from simulator.beskedfordeler.service import Beskedfordeler
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
    except BeskedRefusal as r:
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
    responses={
        200: {
            "content": {"application/xml": {"schema": {"type": "string"}}},
            "description": "StandardRetur (urn:oio:sagdok:3.0.0)",
        }
    },
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


@public_router.post("/dueslag/{uuid}/hent", response_model=HentSvar)
async def hent(
    rt: RuntimeDep,
    d: ReceiverDueslag,
    antal: Annotated[int, Query(ge=1, le=500)] = 1,
    lease_s: Annotated[float, Query(gt=0, le=3600)] = 60.0,
) -> dict:
    """Pull up to `antal` messages from a dueslag. Each must be acknowledged (`kvitter`) or refused
    (`afvis`) within `lease_s` seconds, otherwise it returns to the dueslag (like an unacked AMQP message)."""
    return {"beskeder": await _bf(rt).hent(d.uuid, antal, lease_s)}


@public_router.post("/dueslag/{uuid}/kvitter", response_model=KvitteringSvar)
async def kvitter(rt: RuntimeDep, d: ReceiverDueslag, body: KvitteringerIn) -> dict:
    """Acknowledge pulled messages: they leave the dueslag for good."""
    return await _bf(rt).kvitter(d.uuid, body.kvitteringer, ack=True)


@public_router.post("/dueslag/{uuid}/afvis", response_model=KvitteringSvar)
async def afvis(rt: RuntimeDep, d: ReceiverDueslag, body: KvitteringerIn) -> dict:
    """Refuse pulled messages: back to the dueslag (requeue) or to its error queue (requeue false)."""
    return await _bf(rt).kvitter(d.uuid, body.kvitteringer, ack=False, requeue=body.requeue)


# -- admin -------------------------------------------------------------------------------------------------


@admin_router.get("/status", response_model=Status)
async def status(rt: RuntimeDep) -> dict:
    return await _bf(rt).health()


@admin_router.get("/returkoder", response_model=list[Returkode])
async def returkoder() -> list[Returkode]:
    """Every refusal code with its StatusKode and meaning."""
    return [Returkode(code=c, statuskode=s, meaning=m) for c, (s, m) in RETUR_CODES.items()]


@admin_router.get("/beskedtyper", response_model=list[BeskedtypeOut])
async def beskedtyper(rt: RuntimeDep) -> list[BeskedtypeOut]:
    return [
        BeskedtypeOut(
            name=b.name,
            uuid=b.uuid,
            namespace=b.namespace,
            schema=b.schema.name if b.schema else None,
            description=b.description,
        )
        for b in _bf(rt).cfg.beskedtyper.values()
    ]


@admin_router.get("/beskeder", response_model=list[BeskedOut])
async def beskeder(
    rt: RuntimeDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    system: str | None = None,
    municipality: str | None = None,
) -> list:
    """Accepted messages, newest first."""
    return await _bf(rt).store.beskeder(limit=limit, system=system, municipality=municipality)


@admin_router.get("/beskeder/{besked_id}", response_model=BeskedDetail)
async def besked(rt: RuntimeDep, besked_id: str) -> BeskedDetail:
    """One accepted message with its body, its copies per dueslag and every delivery attempt."""
    found = await _bf(rt).store.besked(besked_id)
    if found is None:
        raise HTTPException(404, f"no accepted message {besked_id}")
    r, levs, tries = found
    levs = await _bf(rt).as_the_broker_sees_them(levs)
    return BeskedDetail.model_validate(
        {c: getattr(r, c) for c in BeskedOut.model_fields}
        | {
            "body": r.body,
            "leveringer": [LeveringOut.model_validate(x) for x in levs],
            "forsoeg": [ForsoegOut.model_validate(x) for x in tries],
        }
    )


@admin_router.get("/dueslag", response_model=list[DueslagState])
async def dueslag_list(rt: RuntimeDep) -> list[dict]:
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


@admin_router.put("/dueslag", response_model=DueslagOut)
async def put_dueslag(rt: RuntimeDep, body: DueslagIn) -> dict:
    try:
        return (await _bf(rt).put_dueslag(Dueslag(**body.model_dump()))).out()
    except ValueError as e:
        raise HTTPException(422, str(e)) from None


@admin_router.delete("/dueslag/{uuid}", response_model=Deleted)
async def delete_dueslag(rt: RuntimeDep, uuid: str) -> Deleted:
    try:
        if not await _bf(rt).delete_dueslag(uuid):
            raise HTTPException(404, f"no dueslag {uuid}")
    except ValueError as e:
        raise HTTPException(409, str(e)) from None
    return Deleted(deleted=True)


@admin_router.get("/dueslag/{uuid}/forsoeg", response_model=list[ForsoegOut])
async def forsoeg(
    rt: RuntimeDep, uuid: str, before: Before = None, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> list:
    """Push delivery attempts of a dueslag, newest first. Page on with `before` = the last item's `seq`."""
    return await _bf(rt).store.forsoeg(uuid, before=before, limit=limit)


@admin_router.get("/dueslag/{uuid}/leveringer", response_model=list[LeveringOut])
async def leveringer(
    rt: RuntimeDep,
    uuid: str,
    state: str | None = None,
    before: Before = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list:
    """Copies for a dueslag (state pending | queued | udleveret | acked | delivered | fejlkoe), newest first.
    Page on with `before` = the last item's `seq`. Pulled over AMQP: as the broker shows them now."""
    bf = _bf(rt)
    return await bf.as_the_broker_sees_them(await bf.store.leveringer(uuid, state=state, before=before, limit=limit))


@admin_router.post("/dueslag/{uuid}/flytbeskedtilfejlkoe", response_model=Moved)
async def flyt(rt: RuntimeDep, uuid: str, body: BeskedRef) -> Moved:
    """Move a message from the dueslag to its error queue (like SOAP flytbeskedtilfejlkoe)."""
    bf = _bf(rt)
    _dueslag(bf, uuid)
    moved = await bf.flyt_til_fejlkoe(uuid, body.besked_id)
    if moved is None:
        raise HTTPException(404, "no such message in the dueslag queue")
    return Moved(moved=moved)


@admin_router.post("/dueslag/{uuid}/fejlkoe/gensend", response_model=MovedBack)
async def gensend(rt: RuntimeDep, uuid: str, body: BeskedRef) -> MovedBack:
    """Put messages back from the error queue into the dueslag (one by BeskedId, or all)."""
    bf = _bf(rt)
    _dueslag(bf, uuid)
    return MovedBack(moved=await bf.gensend_fra_fejlkoe(uuid, body.besked_id))


@admin_router.post("/dueslag/{uuid}/genoptag", response_model=Resumed)
async def genoptag(rt: RuntimeDep, uuid: str) -> Resumed:
    """Resume push delivery of a stopped dueslag."""
    bf = _bf(rt)
    if _dueslag(bf, uuid).levering != "push":
        raise HTTPException(409, "only push dueslag are delivered by the Beskedfordeler")
    await bf.genoptag(uuid)
    return Resumed(resumed=uuid)


@admin_router.get("/abonnementer", response_model=list[AbonnementOut])
async def abonnementer(rt: RuntimeDep) -> list[dict]:
    return [a.out() for a in _bf(rt).abonnementer.values()]


@admin_router.put("/abonnementer", response_model=AbonnementOut)
async def put_abonnement(rt: RuntimeDep, body: AbonnementIn) -> dict:
    try:
        return (await _bf(rt).put_abonnement(Abonnement(**body.model_dump()))).out()
    except ValueError as e:
        raise HTTPException(422, str(e)) from None


@admin_router.delete("/abonnementer/{uuid}", response_model=Deleted)
async def delete_abonnement(rt: RuntimeDep, uuid: str) -> Deleted:
    if not await _bf(rt).delete_abonnement(uuid):
        raise HTTPException(404, f"no abonnement {uuid}")
    return Deleted(deleted=True)
