"""The reference debtor system's HTTP surface: which URL reaches which part (read this file first).

It serves, for several municipalities at once, ``POST /<cvr>/service/OIR/<Service>/1`` for
DebitorRegistreringAfsend (B_01), DebitorForespoergselAfsend (B_02) and DebitorIndbetalingAfsend
(B_03) (``system.py`` answers them), ``POST /<cvr>/service/Klassifikation/SortimentModtag/1`` for KY's
debtor sortiment (``sortiment.py``), and a few JSON admin endpoints. It keeps what KY registers in
memory (``state.py``), covers claims from KY's payments, and sends its coverages and write-offs back
to KY (DaekningAfskrivningRegistreringAfsend) and its events to the Beskedfordeler (``outgoing.py``),
as the municipality's debtor system (``config.py``, from the simulator's ``routes/`` folder). By
default it reports each payment's coverage right away (``auto_report``; ``--no-auto-report`` leaves
it to ``POST /admin/<cvr>/report``) and publishes its events (``--no-messages`` switches that off).

It deliberately uses only lxml, httpx, FastAPI and PyYAML (no simulator imports) so that a vendor can
read it as a template; README.md in this folder maps each checklist item to the code. Admin endpoints
(JSON): ``GET /admin/<cvr>/accounts``, ``POST /admin/<cvr>/report`` (send unreported coverages),
``POST /admin/<cvr>/afskrivninger``, ``GET /admin/<cvr>/sortiment``, ``GET /admin/messages``.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from decimal import Decimal

import httpx
from fastapi import FastAPI, HTTPException, Request, Response
from pydantic import BaseModel, Field

from examples.reference_debtor.config import Config
from examples.reference_debtor.soap import Refused, kr, oere
from examples.reference_debtor.sortiment import SortimentStore, sortiment_router
from examples.reference_debtor.system import DebtorSystem


class WriteOffIn(BaseModel):
    claim_uuid: str
    amount: Decimal = Field(gt=0, decimal_places=2)
    aarsag: str = Field(default="Uerholdelig", description="Uerholdelig|Foraeldet|Eftergivet|Smaabeloeb|Andet")
    reason: str | None = None
    subclaim_uuid: str | None = None
    send: bool = True


def create_app(config: Config) -> FastAPI:
    debtor = DebtorSystem(config)
    sortiments = SortimentStore()

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        async with httpx.AsyncClient(timeout=30) as client:
            debtor.platform.http = client
            yield
            await debtor.drain()

    app = FastAPI(title="Reference debtor system (SF1590 reference contract)", lifespan=lifespan)
    app.state.debtor = debtor
    app.state.sortiments = sortiments
    app.include_router(sortiment_router(sortiments))  # item 3; before the catch-all SOAP route below

    @app.post("/{cvr}/service/{area}/{service}/{version}")
    async def soap(cvr: str, area: str, service: str, version: str, request: Request) -> Response:
        """Items 1a–1c: one SF1590 call from KY (through the platform)."""
        body = await debtor.handle(cvr, service, await request.body())
        if config.auto_report and service == "DebitorIndbetalingAfsend":
            debtor.spawn(debtor.report_quietly(cvr))  # item 1d, right after the answer
        return Response(body, media_type="text/xml; charset=utf-8")

    @app.get("/admin/{cvr}/accounts")
    async def accounts(cvr: str) -> list[dict]:
        """The municipality's books, as this debtor system holds them."""
        try:
            return [a.as_dict() for a in debtor.books_for(cvr).accounts.values()]
        except Refused as e:
            raise HTTPException(404, e.text) from None

    @app.post("/admin/{cvr}/report")
    async def report(cvr: str, resend: bool = False) -> list[dict]:
        """Send the coverages and write-offs KY has not accepted yet (`?resend=true`: all, again)."""
        try:
            return await debtor.report(cvr, resend=resend)
        except Refused as e:
            raise HTTPException(409, e.text) from None

    @app.post("/admin/{cvr}/afskrivninger")
    async def write_off(cvr: str, body: WriteOffIn) -> dict:
        """Write off (part of) a claim and, with send=true, report it to KY (item 1d)."""
        try:
            made = debtor.books_for(cvr).write_off(
                body.claim_uuid,
                oere(str(body.amount)),
                subclaim=body.subclaim_uuid,
                aarsag=body.aarsag,
                reason=body.reason,
            )
            if not body.send:
                return {"postings": [{"uuid": p.uuid, "amount": kr(p.amount)} for p in made], "status": None}
            results = await debtor.platform.report(cvr, made)
            status = "ACCEPTERET" if all(r["status"] == "ACCEPTERET" for r in results) else "AFVIST"
            return {"status": status, "postings": results}
        except Refused as e:
            raise HTTPException(409, f"{e.code}: {e.text}") from None

    @app.get("/admin/messages")
    async def messages() -> list[dict]:
        """What was published to the Beskedfordeler, oldest first, with its StatusKode (20 = accepted)."""
        return debtor.platform.published

    @app.get("/healthz")
    async def health() -> dict:
        return {"ok": True, "municipalities": sorted(config.identities) or "any"}

    return app
