"""Checklist item 3: KY's debtor sortiment, delivered by Klassifikation through the platform.

Serves ``POST /<cvr>/service/Klassifikation/SortimentModtag/1`` (the simulator's documented stand-in
for SF7002 "Overfør Sortiment", docs/contracts/sortiment.md) and keeps, per municipality, the sortiment
version it holds and every Klasse in it (retired ones with their end of Virkning). It answers each
delivery with a receipt (``Kvittering``): ``ACCEPTERET`` and the version it now holds, or ``AFVIST``
with the reason, e.g. a change (``LeveranceType=Aendring``) that does not follow the version it holds
— the simulator then sends what is missing. ``GET /admin/<cvr>/sortiment`` shows what it holds.

What a vendor learns here: a full delivery (``Fuld``) replaces what is held, a change (``Aendring``)
applies only on top of the version it names as ``ForrigeVersion``, and the receipt always names the
version held afterwards, so the sender can tell what to send next. A careful debtor system refuses a
claim whose fordringstype it has not received, or that is not in effect: see
``SortimentStore.check_fordringstype``.

Mount it with ``app.include_router(sortiment_router(store))`` (``app.py`` does).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response
from lxml import etree

from examples.reference_debtor.soap import AC, body_payload, envelope, fault, fejl_liste, sub

SM = "http://serviceplatformen.dk/xml/wsdl/soap11/Klassifikation/SortimentModtag/1/"
SD = "urn:oio:sagdok:3.0.0"
KLASSE = "urn:oio:sts:klassifikation:klasse:1.1.3.0"
FACET = "urn:oio:sts:klassifikation:facet:1.1.3.0"
FORDRINGSTYPE_FACET = "KY-FORDRINGSTYPE"


@dataclass
class HeldKlasse:
    uuid: str
    brugervendt_noegle: str
    titel: str
    beskrivelse: str
    facet: str | None
    overordnet: str | None
    virkning_fra: datetime | None
    virkning_til: datetime | None

    def in_effect(self, at: datetime) -> bool:
        return (self.virkning_fra is None or self.virkning_fra <= at) and (
            self.virkning_til is None or at < self.virkning_til
        )


@dataclass
class HeldSortiment:
    """What one municipality's debtor system holds of the sortiment."""

    sortiment_uuid: str
    brugervendt_noegle: str
    version: int
    facetter: dict[str, str] = field(default_factory=dict)  # Facet UUID → BrugervendtNoegle
    klasser: dict[str, HeldKlasse] = field(default_factory=dict)
    received: list[dict[str, Any]] = field(default_factory=list)  # one line per delivery

    def fordringstyper(self, at: datetime | None = None) -> list[HeldKlasse]:
        """The claim types in effect (leaves of the Fordringstype facet)."""
        at = at or datetime.now(UTC)
        facet = next((u for u, bvn in self.facetter.items() if bvn == FORDRINGSTYPE_FACET), None)
        parents = {k.overordnet for k in self.klasser.values() if k.overordnet}
        return [k for k in self.klasser.values() if k.facet == facet and k.uuid not in parents and k.in_effect(at)]


class SortimentStore:
    """In memory, per municipality CVR."""

    def __init__(self) -> None:
        self.by_cvr: dict[str, HeldSortiment] = {}

    def version(self, cvr: str) -> int:
        held = self.by_cvr.get(cvr)
        return held.version if held else 0

    def check_fordringstype(self, cvr: str, uuid: str, at: datetime | None = None) -> str | None:
        """Why a claim of type `uuid` must be refused, or None if the type is known and in effect."""
        held = self.by_cvr.get(cvr)
        if held is None:
            return "the debtor system has not received KY's debtor sortiment yet"
        k = held.klasser.get(uuid)
        if k is None:
            return f"fordringstype {uuid} is not in the debtor sortiment (version {held.version})"
        if not k.in_effect(at or datetime.now(UTC)):
            return f"fordringstype {k.brugervendt_noegle} is not in effect (Virkning ends {k.virkning_til})"
        return None

    def as_dict(self, cvr: str) -> dict[str, Any]:
        held = self.by_cvr.get(cvr)
        if held is None:
            return {"municipality": cvr, "version": 0, "klasser": [], "received": []}
        return {
            "municipality": cvr,
            "sortiment": held.brugervendt_noegle,
            "version": held.version,
            "facetter": held.facetter,
            "received": held.received,
            "klasser": [
                asdict(k) | {"virkning_fra": _iso(k.virkning_fra), "virkning_til": _iso(k.virkning_til)}
                for k in held.klasser.values()
            ],
            "fordringstyper_i_kraft": [k.brugervendt_noegle for k in held.fordringstyper()],
        }

    # -- receiving -------------------------------------------------------------------------------

    def receive(self, cvr: str, body: bytes) -> tuple[int, bytes]:
        """Handle one SortimentModtag request: (HTTP status, response envelope with a receipt or a fault)."""
        try:
            req = body_payload(body)
        except ValueError as e:
            return 500, fault(str(e))
        if req.tag != f"{{{SM}}}SortimentModtagRequest":
            return 500, fault(f"the Body carries no {{{SM}}}SortimentModtagRequest")
        s = req.find(f"{{{SM}}}Sortiment")
        if s is None:
            return 500, fault("SortimentModtagRequest has no Sortiment")
        leverance = s.findtext(f"{{{SM}}}LeveranceUUID") or ""
        sortiment_uuid = s.findtext(f"{{{SM}}}SortimentUUID") or ""
        held_version = self.version(cvr)

        def refuse(code: str, text: str) -> tuple[int, bytes]:
            return 200, _receipt(leverance, sortiment_uuid, "AFVIST", held_version, text, [(code, text)])

        authority = req.findtext(f"{{{AC}}}AuthorityContext/{{{AC}}}MunicipalityCVR")
        if authority and authority != cvr:
            return refuse("FORKERT-KOMMUNE", f"the delivery is for municipality {authority}, this endpoint is {cvr}")
        try:
            version = int(s.findtext(f"{{{SM}}}Version") or "")
            kind = s.findtext(f"{{{SM}}}LeveranceType")
            forrige = s.findtext(f"{{{SM}}}ForrigeVersion")
            forrige_version = int(forrige) if forrige else None
        except ValueError:
            return refuse("UGYLDIG-LEVERANCE", "Version and ForrigeVersion must be integers")
        held = self.by_cvr.get(cvr)
        if kind == "Aendring":
            if held is None or held.sortiment_uuid != sortiment_uuid or forrige_version != held.version:
                return refuse(
                    "UKENDT-FORRIGE-VERSION",
                    f"the change builds on version {forrige_version}, this system holds {held_version}",
                )
        elif kind != "Fuld":
            return refuse("UGYLDIG-LEVERANCE", f"unknown LeveranceType '{kind}'")
        klasser = [_klasse(k) for k in s.iterfind(f"{{{SM}}}Klasser/{{{KLASSE}}}Klasse")]
        facetter = {}
        for f in s.iterfind(f"{{{SM}}}Facetter/{{{FACET}}}Facet"):
            eg = _last_registrering(f, FACET)
            facetter[f.findtext(f"{{{SD}}}UUIDIdentifikator") or ""] = (
                eg.findtext(f"{{{FACET}}}AttributListe/{{{FACET}}}Egenskab/{{{SD}}}BrugervendtNoegleTekst")
                if eg is not None
                else ""
            ) or ""
        if kind == "Fuld" or held is None:
            held = HeldSortiment(
                sortiment_uuid,
                s.findtext(f"{{{SM}}}BrugervendtNoegle") or "",
                version,
                received=held.received if held else [],
            )
            self.by_cvr[cvr] = held
        held.version = version
        held.facetter.update(facetter)
        for k in klasser:
            held.klasser[k.uuid] = k
        held.received.append(
            {
                "leverance": leverance,
                "type": kind,
                "version": version,
                "forrige_version": forrige_version,
                "klasser": [k.brugervendt_noegle for k in klasser],
                "at": datetime.now(UTC).isoformat(),
            }
        )
        return 200, _receipt(leverance, sortiment_uuid, "ACCEPTERET", version, None, [])


def _time(el: etree._Element | None) -> datetime | None:
    text = el.findtext(f"{{{SD}}}TidsstempelDatoTid") if el is not None else None
    return datetime.fromisoformat(text) if text else None


def _iso(dt: datetime | None) -> str | None:
    return dt.isoformat() if dt else None


def _last_registrering(obj: etree._Element, ns: str) -> etree._Element | None:
    regs = obj.findall(f"{{{ns}}}Registrering")
    return regs[-1] if regs else None


def _klasse(el: etree._Element) -> HeldKlasse:
    """A klasse:Klasse as this system keeps it: its newest registration."""
    reg = _last_registrering(el, KLASSE)
    eg = reg.find(f"{{{KLASSE}}}AttributListe/{{{KLASSE}}}Egenskab") if reg is not None else None
    rel = reg.find(f"{{{KLASSE}}}RelationListe") if reg is not None else None

    def ref(name: str) -> str | None:
        return (
            rel.findtext(f"{{{SD}}}{name}/{{{SD}}}ReferenceID/{{{SD}}}UUIDIdentifikator") if rel is not None else None
        )

    def text(name: str) -> str:
        return (eg.findtext(f"{{{SD}}}{name}") if eg is not None else None) or ""

    virkning = eg.find(f"{{{SD}}}Virkning") if eg is not None else None
    return HeldKlasse(
        uuid=el.findtext(f"{{{SD}}}UUIDIdentifikator") or "",
        brugervendt_noegle=text("BrugervendtNoegleTekst"),
        titel=text("TitelTekst"),
        beskrivelse=text("BeskrivelseTekst"),
        facet=ref("Facet"),
        overordnet=ref("OverordnetKlasse"),
        virkning_fra=_time(virkning.find(f"{{{SD}}}FraTidspunkt")) if virkning is not None else None,
        virkning_til=_time(virkning.find(f"{{{SD}}}TilTidspunkt")) if virkning is not None else None,
    )


def _receipt(
    leverance: str, sortiment: str, status: str, version: int, begrundelse: str | None, fejl: list[tuple[str, str]]
) -> bytes:
    resp = etree.Element(f"{{{SM}}}SortimentModtagResponse", nsmap={"sm": SM})
    k = sub(resp, SM, "Kvittering")
    sub(k, SM, "LeveranceUUID", leverance)
    sub(k, SM, "SortimentUUID", sortiment)
    sub(k, SM, "Forretningskvittering", status)
    sub(k, SM, "Version", version)
    if begrundelse:
        sub(k, SM, "Begrundelse", begrundelse)
    if fejl:
        fejl_liste(k, SM, fejl)
    return envelope(resp)


def sortiment_router(store: SortimentStore) -> APIRouter:
    """The SortimentModtag endpoint per municipality, and a JSON view of what is held."""
    router = APIRouter()

    @router.post("/{cvr}/service/Klassifikation/SortimentModtag/1")
    async def modtag(cvr: str, request: Request) -> Response:
        status, body = store.receive(cvr, await request.body())
        return Response(body, status_code=status, media_type="text/xml; charset=utf-8")

    @router.get("/admin/{cvr}/sortiment")
    async def held(cvr: str) -> dict[str, Any]:
        if not cvr.isdigit() or len(cvr) != 8:
            raise HTTPException(404, "municipality CVR is 8 digits")
        return store.as_dict(cvr)

    return router
