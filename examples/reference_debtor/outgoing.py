"""The debtor system's calls to the platform: coverages and write-offs to KY (checklist item 1d) and
events to the Beskedfordeler (1e), always as the municipality's debtor system.

What a vendor learns here:

- 1d: a ``RegistrerDaekning`` / ``RegistrerAfskrivning`` request to KY's
  ``DaekningAfskrivningRegistreringAfsend`` carries an ``AuthorityContext`` (the municipality) and an
  ``InvocationContext`` (the service agreement, this system's UUID, the service's UUID and a fresh call
  id; see ``config.py``). KY answers with a Forretningskvittering; only ``ACCEPTERET`` marks the posting
  reported (:meth:`Platform.send_to_ky`).
- 1e: a ``Haendelsesbesked`` (Beskedkuvert 1.0) is POSTed to ``{simulator}/beskedfordeler/afsend``;
  its Filtreringsdata say who may receive it (the municipality) and what it is about (beskedtype,
  object, the debtor). StatusKode 20 in the answer means accepted (:meth:`Platform.publish`).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
from lxml import etree

from examples.reference_debtor.config import RETURN_SERVICE, Config
from examples.reference_debtor.soap import AC, IC, KV, PARSER, WSDL_NS, D, Refused, envelope, kr, sub, text
from examples.reference_debtor.state import Event, Posting, Statusskift

USER_UUID = "00000000-0000-4000-8000-0000000de870"  # the "user" of a system-to-system call
KUVERT = "urn:oio:besked:kuvert:1.0"  # Haendelsesbesked (Beskedkuvert) and its identifiers
SAGDOK = "urn:oio:sagdok:3.0.0"
# ObjektType / ObjektHandling Klasse UUIDs of the debtor messages (the simulator's own; docs/beskedfordeler.md)
OBJEKTTYPE_DEBITORKONTO = "5d2f3c55-0d3e-4a4c-9a1e-3b1f6a0c7d01"
OBJEKTTYPE_FORDRING = "5d2f3c55-0d3e-4a4c-9a1e-3b1f6a0c7d02"
HANDLING_STATUSSKIFT = "5d2f3c55-0d3e-4a4c-9a1e-3b1f6a0c7d11"
HANDLING_TIL_INDBETALING = "5d2f3c55-0d3e-4a4c-9a1e-3b1f6a0c7d12"
OBJEKTTYPE_PERSON = "ce7fcf97-a8a2-447a-8690-d38aa0f6e23c"
OBJEKTTYPE_VIRKSOMHED = "5d2f3c55-0d3e-4a4c-9a1e-3b1f6a0c7d03"
log = logging.getLogger("reference_debtor")


class Platform:
    """Calls to the simulator (KY's return service, the Beskedfordeler); `http` is set by the app."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.http: httpx.AsyncClient | None = None
        self.published: list[dict] = []  # what was sent to the Beskedfordeler, with its StandardRetur
        self._publish_lock = asyncio.Lock()  # FIFO: messages leave in the order the calls were answered

    # 1d: coverages and write-offs back to KY -------------------------------------------------------

    async def report(self, cvr: str, postings: list[Posting]) -> list[dict]:
        """Send each posting to KY, one call each, in order."""
        return [await self.send_to_ky(cvr, p) for p in postings]

    async def send_to_ky(self, cvr: str, posting: Posting) -> dict:
        """One RegistrerDaekning / RegistrerAfskrivning call; returns what KY answered."""
        ident = self.config.identities.get(cvr)
        if ident is None or ident.agreement_uuid is None:
            raise Refused("DEB-009", f"no service agreement for {RETURN_SERVICE} in municipality {cvr}")
        ns = WSDL_NS.format(RETURN_SERVICE)
        daekning = posting.art == "Daekning"
        op = "RegistrerDaekning" if daekning else "RegistrerAfskrivning"
        req = etree.Element(f"{{{ns}}}{op}Request", nsmap={"r": ns, "d": D})
        ac = etree.SubElement(req, f"{{{AC}}}AuthorityContext", nsmap={"ac": AC})
        sub(ac, AC, "MunicipalityCVR", cvr)
        ic = etree.SubElement(req, f"{{{IC}}}InvocationContext", nsmap={"ic": IC})
        sub(ic, IC, "ServiceAgreementUUID", ident.agreement_uuid)
        sub(ic, IC, "UserSystemUUID", ident.system_uuid)
        sub(ic, IC, "UserUUID", USER_UUID)
        sub(ic, IC, "ServiceUUID", self.config.return_service_uuid)
        sub(ic, IC, "CallersServiceCallIdentifier", str(uuid.uuid4()))
        item = sub(req, ns, "Daekning" if daekning else "Afskrivning")
        sub(item, D, "DaekningUUID" if daekning else "AfskrivningUUID", posting.uuid)
        sub(item, D, "FordringUUID", posting.claim_uuid)
        if posting.subclaim_uuid:
            sub(item, D, "DelfordringUUID", posting.subclaim_uuid)
        if daekning and posting.payment_uuid:
            sub(item, D, "IndbetalingUUID", posting.payment_uuid)
        sub(item, D, "Beloeb", kr(posting.amount))
        sub(item, D, "Dato", posting.on)
        if not daekning:
            sub(item, D, "Aarsag", posting.aarsag or "Andet")
        if posting.reason:
            sub(item, D, "Begrundelse", posting.reason)
        assert self.http is not None
        r = await self.http.post(
            self.config.simulator_url + self.config.return_path,
            content=envelope(req),
            headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{ns}{op}"'},
        )
        out: dict[str, Any] = {
            "uuid": posting.uuid,
            "art": posting.art,
            "amount": kr(posting.amount),
            "http_status": r.status_code,
            "exchange_id": r.headers.get("x-simulator-exchange-id"),
        }
        try:
            root = etree.fromstring(r.content, PARSER)
        except etree.XMLSyntaxError:
            out["status"] = "FEJLET"
            return out
        kv = root.find(f".//{{{KV}}}Forretningskvittering")
        if kv is not None:
            out["status"] = text(kv, KV, "ForretningsValideringsKode", False)
            out["begrundelse"] = text(kv, KV, "Begrundelse", False)
            out["fejl"] = [text(f, KV, "FejlKode", False) for f in kv.iterfind(f".//{{{KV}}}Fejl")]
        else:
            out["status"] = "FAULT"
            out["fault"] = root.findtext(".//{*}ErrorCode") or root.findtext(".//faultstring")
        posting.reported = out["status"]
        return out

    # 1e: events to the Beskedfordeler --------------------------------------------------------------

    async def publish_all(self, cvr: str, events: list[Event]) -> None:
        """Publish `events` in order, after any publishing still under way; failures are logged and listed."""
        async with self._publish_lock:
            for event in events:
                try:
                    await self.publish(cvr, event)
                except Exception:  # noqa: BLE001 - best effort: logged, and visible in GET /admin/messages
                    log.exception("could not publish %s for %s", event.beskedtype, cvr)
                    self.published.append(
                        {"municipality": cvr, "beskedtype": event.beskedtype, "fejl": "internal error"}
                    )

    async def publish(self, cvr: str, event: Event) -> dict:
        """Send one Haendelsesbesked to the simulator's Beskedfordeler over HTTP; returns what it answered."""
        ident = self.config.identities.get(cvr)
        out: dict[str, Any] = {"municipality": cvr, "beskedtype": event.beskedtype, "besked_id": None}
        if ident is None:
            out.update(status_kode=None, fejl=f"no debtor system is configured for municipality {cvr}")
        else:
            besked_id, body = self.besked(cvr, event)
            out["besked_id"] = besked_id
            headers = {"Content-Type": "application/xml; charset=utf-8"}
            if ident.system_key:
                headers["x-simulator-system"] = ident.system_key
            assert self.http is not None
            try:
                r = await self.http.post(
                    self.config.simulator_url + "/beskedfordeler/afsend", content=body, headers=headers
                )
                out["http_status"] = r.status_code
                try:
                    retur = etree.fromstring(r.content, PARSER)
                    out["status_kode"] = retur.findtext(f".//{{{SAGDOK}}}StatusKode") or r.headers.get("x-statuskode")
                    out["fejl"] = retur.findtext(f".//{{{SAGDOK}}}FejlbeskedTekst")
                except etree.XMLSyntaxError:
                    out.update(status_kode=r.headers.get("x-statuskode"), fejl=f"HTTP {r.status_code}: not XML")
            except httpx.HTTPError as e:
                out.update(status_kode=None, fejl=f"{type(e).__name__}: {e}")
        if out.get("status_kode") != "20":
            log.warning("%s for %s not accepted by the Beskedfordeler: %s", event.beskedtype, cvr, out.get("fejl"))
        self.published.append(out)
        return out

    def besked(self, cvr: str, event: Event) -> tuple[str, bytes]:
        """(BeskedId, Haendelsesbesked) for one event, as this municipality's debtor system sends it."""
        bt_uuid, ns = self.config.beskedtyper[event.beskedtype]
        p = etree.Element(f"{{{ns}}}{event.beskedtype}", nsmap={None: ns})
        if isinstance(event, Statusskift):
            objekt, objekttype, handling = event.account_uuid, OBJEKTTYPE_DEBITORKONTO, HANDLING_STATUSSKIFT
            sub(p, ns, "DebitorkontoUUID", event.account_uuid)
            sub(p, ns, "MyndighedCVR", cvr)
            if event.forrige_status:
                sub(p, ns, "ForrigeStatus", event.forrige_status)
            sub(p, ns, "Status", event.status)
            sub(p, ns, "StatusTidspunkt", event.at.isoformat(timespec="seconds"))
        else:
            objekt, objekttype, handling = event.claim_uuid, OBJEKTTYPE_FORDRING, HANDLING_TIL_INDBETALING
            sub(p, ns, "FordringUUID", event.claim_uuid)
            sub(p, ns, "DebitorkontoUUID", event.account_uuid)
            sub(p, ns, "MyndighedCVR", cvr)
            sub(sub(p, ns, "BetalendeMyndigheder"), ns, "MyndighedCVR", cvr)
            sub(p, ns, "PeriodeFra", event.on)
            sub(p, ns, "Beloeb", kr(event.outstanding))
        debitor = None
        if event.debitor.get("cpr"):
            debitor = f"urn:oio:cpr-nr:{event.debitor['cpr']}"
        elif event.debitor.get("cvr"):
            debitor = f"urn:oio:cvr-nr:{event.debitor['cvr']}"
        besked_id = str(uuid.uuid4())
        system_uuid = self.config.identities[cvr].system_uuid
        return besked_id, haendelsesbesked(
            besked_id, bt_uuid, cvr, system_uuid, objekt, objekttype, handling, p, debitor
        )


def haendelsesbesked(
    besked_id: str,
    beskedtype_uuid: str,
    cvr: str,
    system_uuid: str,
    objekt_id: str,
    objekttype: str,
    handling: str,
    payload: etree._Element,
    debitor: str | None = None,
) -> bytes:
    """A Haendelsesbesked (Beskedkuvert 1.0) around `payload`, for the municipality `cvr` only."""
    now = datetime.now(UTC).isoformat(timespec="milliseconds")
    root = etree.Element(f"{{{KUVERT}}}Haendelsesbesked", nsmap={"besked": KUVERT, None: SAGDOK})

    def el(parent: etree._Element, name: str) -> etree._Element:
        return etree.SubElement(parent, f"{{{KUVERT}}}{name}")

    def unik(parent: etree._Element, name: str, value: str) -> None:
        tag = "URNIdentifikator" if value.startswith("urn:") else "UUIDIdentifikator"
        sub(el(parent, name), SAGDOK, tag, value)

    def tid(parent: etree._Element, name: str) -> None:
        sub(el(parent, name), SAGDOK, "TidsstempelDatoTid", now)

    unik(root, "BeskedId", besked_id)
    el(root, "BeskedVersion").text = "1.0"
    kuvert = el(root, "Beskedkuvert")
    f = el(kuvert, "Filtreringsdata")
    unik(f, "Beskedtype", beskedtype_uuid)
    unik(f, "BeskedAnsvarligAktoer", system_uuid)
    unik(f, "TilladtModtager", f"urn:oio:cvr-nr:{cvr}")
    if debitor:  # the debtor as a related object (receivers may filter on CPR/CVR)
        rel = el(f, "RelateretObjekt")
        unik(rel, "ObjektId", debitor)
        unik(rel, "ObjektType", OBJEKTTYPE_PERSON if ":cpr" in debitor else OBJEKTTYPE_VIRKSOMHED)
    reg = el(f, "ObjektRegistrering")
    unik(reg, "ObjektRegistreringId", str(uuid.uuid4()))
    unik(reg, "RegistreringsAktoer", system_uuid)
    tid(reg, "Registreringstidspunkt")
    unik(reg, "ObjektAnsvarligMyndighed", f"urn:oio:cvr-nr:{cvr}")
    unik(reg, "ObjektId", objekt_id)
    unik(reg, "ObjektType", objekttype)
    unik(reg, "ObjektHandling", handling)
    li = el(kuvert, "Leveranceinformation")
    tid(li, "Dannelsestidspunkt")
    unik(li, "TransaktionsId", str(uuid.uuid4()))
    unik(li, "Kildesystem", system_uuid)
    tid(kuvert, "GyldighedFra")
    el(root, "Beskeddata").append(payload)
    return etree.tostring(root, xml_declaration=True, encoding="utf-8")
