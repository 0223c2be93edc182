"""A reference debtor system: the debtor side of the simulator's SF1590 reference contract.

It serves, for several municipalities at once, ``POST /<cvr>/service/OIR/<Service>/1`` for
DebitorRegistreringAfsend (B_01), DebitorForespoergselAfsend (B_02) and DebitorIndbetalingAfsend
(B_03); it keeps what KY registers in memory, covers claims from KY's payments, and sends its
coverages and write-offs back to KY (DaekningAfskrivningRegistreringAfsend) through the simulator,
as the municipality's debtor system, with that system's InvocationContext and service agreement
taken from the simulator's ``routes/`` folder. By default it reports each payment's coverage right
away (``auto_report``; ``--no-auto-report`` leaves it to ``POST /admin/<cvr>/report``).

It also publishes events to the Beskedfordeler (SF1462, ``POST {simulator}/beskedfordeler/afsend``),
as the municipality's debtor system (header ``x-simulator-system``): a ``DebitorkontoStatusskift``
(oprettet → aktiv) after it accepts an OpretDebitorkonto, and a ``FordringTilIndbetaling`` for a claim
still open after a payment (``publish_messages``; ``--no-messages`` switches it off). Publishing runs
in the background, after the SOAP answer; failures are logged and listed in ``GET /admin/messages``.

It deliberately uses only lxml, httpx, FastAPI and PyYAML (no simulator imports) so that a vendor
can read it as a template. Admin endpoints (JSON): ``GET /admin/<cvr>/accounts``,
``POST /admin/<cvr>/report`` (send unreported coverages), ``POST /admin/<cvr>/afskrivninger``.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import httpx
import yaml
from fastapi import FastAPI, HTTPException, Request, Response
from lxml import etree
from pydantic import BaseModel, Field

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
IC = "http://serviceplatformen.dk/xml/schemas/InvocationContext/1/"
AC = "http://serviceplatformen.dk/xml/schemas/AuthorityContext/1/"
KV = "http://serviceplatformen.dk/xml/schemas/kvittering/1/"
D = "http://serviceplatformen.dk/xml/schemas/OIR/Debitor/1/"
WSDL_NS = "http://serviceplatformen.dk/xml/wsdl/soap11/OIR/{}/1/"
SM = "http://serviceplatformen.dk/xml/wsdl/soap11/Klassifikation/SortimentModtag/1/"
RETURN_SERVICE = "DaekningAfskrivningRegistreringAfsend"
USER_UUID = "00000000-0000-4000-8000-0000000de870"
ART = {"Daekning": -1, "Afskrivning": -1, "Nedregulering": -1, "Rente": 1, "Gebyr": 1}
# Haendelsesbesked (Beskedkuvert) namespaces, and the simulator's beskedtyper (messages/beskedtyper.yaml)
KUVERT = "urn:oio:besked:kuvert:1.0"
SAGDOK = "urn:oio:sagdok:3.0.0"
STATUSSKIFT = "DebitorkontoStatusskift"
FORDRING_TIL_INDBETALING = "FordringTilIndbetaling"
BESKEDTYPER = {  # name → (beskedtype UUID, Beskeddata namespace); overridden by messages/beskedtyper.yaml
    STATUSSKIFT: (
        "1a4419ff-47d1-4dc8-a900-4c747888edad",
        "urn:ky-debtor-simulator:beskeddata:debitorkontostatusskift:1",
    ),
    FORDRING_TIL_INDBETALING: (
        "25672fd7-e239-4bf3-8f8d-f15023857e0c",
        "urn:ky-debtor-simulator:beskeddata:fordringtilindbetaling:1",
    ),
}
# ObjektType / ObjektHandling Klasse UUIDs of the debtor messages (the simulator's own; docs/beskedfordeler.md)
OBJEKTTYPE_DEBITORKONTO = "5d2f3c55-0d3e-4a4c-9a1e-3b1f6a0c7d01"
OBJEKTTYPE_FORDRING = "5d2f3c55-0d3e-4a4c-9a1e-3b1f6a0c7d02"
HANDLING_STATUSSKIFT = "5d2f3c55-0d3e-4a4c-9a1e-3b1f6a0c7d11"
HANDLING_TIL_INDBETALING = "5d2f3c55-0d3e-4a4c-9a1e-3b1f6a0c7d12"
OBJEKTTYPE_PERSON = "ce7fcf97-a8a2-447a-8690-d38aa0f6e23c"
OBJEKTTYPE_VIRKSOMHED = "5d2f3c55-0d3e-4a4c-9a1e-3b1f6a0c7d03"
log = logging.getLogger("reference_debtor")
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


class Refused(Exception):
    def __init__(self, code: str, text: str) -> None:
        super().__init__(text)
        self.code, self.text = code, text


# -- configuration ------------------------------------------------------------------------------


@dataclass
class Identity:
    """Who this debtor system is when it calls KY for one municipality."""

    system_uuid: str
    agreement_uuid: str | None
    system_key: str | None = None  # routes/systems.yaml key: who sends to the Beskedfordeler


@dataclass
class Config:
    simulator_url: str = "http://127.0.0.1:8000"
    return_service_uuid: str = "67275f52-f9a2-484e-a869-92cad1a5572c"
    return_path: str = f"/service/OIR/{RETURN_SERVICE}/1"
    identities: dict[str, Identity] = field(default_factory=dict)  # by municipality CVR
    auto_report: bool = True  # report each payment's coverage to KY right away
    publish_messages: bool = True  # DebitorkontoStatusskift / FordringTilIndbetaling to the Beskedfordeler
    beskedtyper: dict[str, tuple[str, str]] = field(default_factory=lambda: dict(BESKEDTYPER))

    @classmethod
    def from_routes(
        cls,
        routes_dir: Path,
        simulator_url: str,
        *,
        auto_report: bool = True,
        publish_messages: bool = True,
        messages_dir: Path | None = None,
    ) -> Config:
        """Read systems, municipalities, agreements and services from the simulator's routes/ folder, and
        the beskedtyper from its messages/ folder (default: the sibling of routes/, when it exists)."""

        def load(name: str, key: str, folder: Path = routes_dir) -> list[dict]:
            return (yaml.safe_load((folder / name).read_text(encoding="utf-8")) or {}).get(key) or []

        systems = {s["key"]: s for s in load("systems.yaml", "systems")}
        cfg = cls(simulator_url=simulator_url.rstrip("/"), auto_report=auto_report, publish_messages=publish_messages)
        messages_dir = messages_dir or routes_dir.parent / "messages"
        if (messages_dir / "beskedtyper.yaml").is_file():
            for bt in load("beskedtyper.yaml", "beskedtyper", messages_dir):
                if bt.get("name") in cfg.beskedtyper:
                    cfg.beskedtyper[bt["name"]] = (bt["uuid"], bt.get("namespace") or cfg.beskedtyper[bt["name"]][1])
        for s in load("services.yaml", "services"):
            if s["name"] == RETURN_SERVICE:
                cfg.return_service_uuid = s["uuid"]
                cfg.return_path = s.get("path") or f"/service/{s['area']}/{s['name']}/{s.get('version', 1)}"
        agreements = load("agreements.yaml", "agreements")
        for m in load("municipalities.yaml", "municipalities"):
            key = m.get("debtor_system")
            if not key or key not in systems:
                continue
            ag = next(
                (
                    a
                    for a in agreements
                    if a["system"] == key
                    and str(a["municipality"]) == str(m["cvr"])
                    and a["service"] == RETURN_SERVICE
                    and a.get("active", True)
                ),
                None,
            )
            cfg.identities[str(m["cvr"])] = Identity(systems[key]["uuid"], ag["uuid"] if ag else None, key)
        return cfg


# -- the books ----------------------------------------------------------------------------------


@dataclass
class Posting:
    uuid: str
    art: str  # Daekning | Afskrivning | Nedregulering | Rente | Gebyr
    claim_uuid: str
    amount: int  # øre
    on: date
    subclaim_uuid: str | None = None
    payment_uuid: str | None = None
    reason: str | None = None
    aarsag: str | None = None
    reported: str | None = None  # KY's answer (ForretningsValideringsKode) once sent


@dataclass
class Claim:
    uuid: str
    account_uuid: str
    fordringstype: str
    amount: int
    due: date
    state: str = "Aktiv"
    subclaims: list[dict] = field(default_factory=list)  # {uuid, amount}
    payments: list[dict] = field(default_factory=list)  # {uuid, amount, date, subclaim}
    postings: list[Posting] = field(default_factory=list)

    def outstanding(self, subclaim: str | None = None) -> int:
        if subclaim is None:
            base = self.amount
            moves = self.postings
        else:
            base = next(s["amount"] for s in self.subclaims if s["uuid"] == subclaim)
            moves = [p for p in self.postings if p.subclaim_uuid == subclaim]
        return base + sum(ART[p.art] * p.amount for p in moves)


@dataclass
class Account:
    uuid: str
    kind: str
    version: int
    debitor: dict
    status: str = "aktiv"
    liabilities: list[dict] = field(default_factory=list)
    claims: dict[str, Claim] = field(default_factory=dict)

    def outstanding(self) -> int:
        return sum(c.outstanding() for c in self.claims.values())


class Books:
    """One municipality's debtor ledger (in memory)."""

    def __init__(self) -> None:
        self.accounts: dict[str, Account] = {}
        self.claims: dict[str, Claim] = {}

    def account(self, account_uuid: str) -> Account:
        acc = self.accounts.get(account_uuid)
        if acc is None:
            raise Refused("DEB-003", f"no debtor account {account_uuid}")
        return acc

    def claim(self, claim_uuid: str) -> Claim:
        c = self.claims.get(claim_uuid)
        if c is None:
            raise Refused("DEB-004", f"no claim {claim_uuid}")
        return c


# -- XML helpers --------------------------------------------------------------------------------


def _t(el: etree._Element | None, ns: str, name: str, required: bool = True) -> str | None:
    child = el.find(f"{{{ns}}}{name}") if el is not None else None
    value = (child.text or "").strip() if child is not None else ""
    if not value and required:
        raise Refused("DEB-007", f"{name} is missing")
    return value or None


def _oere(value: str) -> int:
    try:
        return int(Decimal(value) * 100)
    except InvalidOperation:
        raise Refused("DEB-007", f"'{value}' is not an amount") from None


def _kr(oere: int) -> str:
    return f"{Decimal(oere) / 100:.2f}"


def _date(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value[:10]) if value else None
    except ValueError:
        raise Refused("DEB-007", f"'{value}' is not a date") from None


def _sub(parent: etree._Element, ns: str, name: str, value: Any = None) -> etree._Element:
    el = etree.SubElement(parent, f"{{{ns}}}{name}")
    if value is not None:
        el.text = value.isoformat() if isinstance(value, date) else str(value)
    return el


def _response(
    service: str, op: str, status: str, text: str | None = None, errors: list[tuple[str, str]] | None = None
) -> etree._Element:
    ns = WSDL_NS.format(service)
    resp = etree.Element(f"{{{ns}}}{op}Response", nsmap={"r": ns, "d": D})
    kv = etree.SubElement(resp, f"{{{KV}}}Forretningskvittering", nsmap={"kv": KV})
    _sub(kv, KV, "ForretningsValideringsKode", status)
    if text:
        _sub(kv, KV, "Begrundelse", text)
    if errors:
        fl = _sub(kv, KV, "FejlListe")
        for code, msg in errors:
            f = _sub(fl, KV, "Fejl")
            _sub(f, KV, "FejlKode", code)
            _sub(f, KV, "FejlTekst", msg)
    return resp


def _envelope(payload: etree._Element) -> bytes:
    env = etree.Element(f"{{{SOAP}}}Envelope", nsmap={"soap": SOAP})
    etree.SubElement(env, f"{{{SOAP}}}Body").append(payload)
    return etree.tostring(env, xml_declaration=True, encoding="utf-8")


def _haendelsesbesked(
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
        _sub(el(parent, name), SAGDOK, tag, value)

    def tid(parent: etree._Element, name: str) -> None:
        _sub(el(parent, name), SAGDOK, "TidsstempelDatoTid", now)

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


def _fault(text: str) -> bytes:
    return (
        f'<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="{SOAP}"><soap:Body><soap:Fault>'
        f"<faultcode>soap:Client</faultcode><faultstring>{text}</faultstring></soap:Fault></soap:Body>"
        "</soap:Envelope>"
    ).encode()


def _party(el: etree._Element | None) -> dict:
    return {
        k: v
        for k, v in {
            "cpr": _t(el, D, "CPR", False),
            "cvr": _t(el, D, "CVR", False),
            "name": _t(el, D, "Navn", False),
        }.items()
        if v
    }


def _party_el(parent: etree._Element, ns: str, name: str, party: dict) -> None:
    p = _sub(parent, ns, name)
    for key, tag in (("cpr", "CPR"), ("cvr", "CVR"), ("name", "Navn")):
        if party.get(key):
            _sub(p, D, tag, party[key])


# -- the debtor system --------------------------------------------------------------------------


class DebtorSystem:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.books: dict[str, Books] = {}
        self.http: httpx.AsyncClient | None = None
        self.received: list[dict] = []  # what KY sent: (municipality, service, operation)
        # Sortiments received from Klassifikation, per municipality: uuid → {version, titel, klasser}
        self.sortiments: dict[str, dict[str, dict]] = {}
        self.published: list[dict] = []  # what was sent to the Beskedfordeler, with its StandardRetur
        self._events: list[tuple[str, dict]] = []  # messages the current (accepted) call gives rise to
        self._tasks: set[asyncio.Task] = set()
        self._publish_lock = asyncio.Lock()  # FIFO: messages leave in the order the calls were answered

    def books_for(self, cvr: str) -> Books:
        if self.config.identities and cvr not in self.config.identities:
            raise Refused("DEB-002", f"this debtor system does not serve municipality {cvr}")
        return self.books.setdefault(cvr, Books())

    async def handle(self, cvr: str, service: str, body: bytes) -> bytes:
        try:
            root = etree.fromstring(body, _PARSER)
            payload = next(c for c in root.find(f"{{{SOAP}}}Body") if isinstance(c.tag, str))
        except Exception:  # noqa: BLE001 - any unreadable request gets a SOAP fault
            return _fault("not a SOAP 1.1 envelope")
        op = etree.QName(payload).localname.removesuffix("Request")
        if service == "SortimentModtag":
            return _envelope(self.sortiment_modtag(cvr, payload))
        ns = WSDL_NS.format(service)
        self.received.append({"municipality": cvr, "service": service, "operation": op})
        try:
            authority = _t(payload.find(f"{{{AC}}}AuthorityContext"), AC, "MunicipalityCVR", False)
            if authority and authority != cvr:
                raise Refused("DEB-002", f"the call is on behalf of {authority}, but this endpoint serves {cvr}")
            books = self.books_for(cvr)
            handler = getattr(self, f"op_{op}", None)
            if handler is None:
                raise Refused("DEB-007", f"{service} has no operation {op}")
            resp = _response(service, op, "ACCEPTERET")
            self._events = []
            text = handler(cvr, books, payload, ns, resp)
            if text:
                _sub(resp[0], KV, "Begrundelse", text)
            events, self._events = self._events, []
            if events and self.config.publish_messages:
                self.spawn(self.publish_events(cvr, events))  # after the answer, never delaying it
        except Refused as e:
            self._events = []
            resp = _response(service, op, "AFVIST", e.text, [(e.code, e.text)])
        return _envelope(resp)

    def spawn(self, coro: Any) -> asyncio.Task:
        """Run `coro` in the background; its failure is logged, never raised."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)

        def done(t: asyncio.Task) -> None:
            self._tasks.discard(t)
            if not t.cancelled() and t.exception() is not None:
                log.error("background task failed", exc_info=t.exception())

        task.add_done_callback(done)
        return task

    async def drain(self, timeout: float = 10) -> None:
        """Wait (up to `timeout` s) for the background sends still running (at shutdown)."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)

    # B_01 DebitorRegistreringAfsend ----------------------------------------------------------------

    def op_OpretDebitorkonto(self, cvr, books: Books, payload, ns, resp) -> str:  # noqa: N802
        k = payload.find(f"{{{ns}}}Debitorkonto")
        if k is None:
            raise Refused("DEB-007", "Debitorkonto is missing")
        uid = _t(k, D, "DebitorkontoUUID")
        if uid in books.accounts:
            raise Refused("DEB-001", f"debtor account {uid} exists")
        h = k.find(f"{{{D}}}Hovedoplysninger")
        acc = Account(
            uuid=uid,
            kind=_t(h, D, "DebitorkontoType"),
            version=int(_t(h, D, "Version")),
            debitor=_party(k.find(f"{{{D}}}Debitor")),
        )
        for he in k.iterfind(f"{{{D}}}Haeftelse"):
            acc.liabilities.append(
                {
                    "uuid": _t(he, D, "HaeftelseUUID"),
                    "role": _t(he, D, "Rolle"),
                    "party": _party(he.find(f"{{{D}}}Part")),
                    "valid_from": _t(he, D, "GyldigFra"),
                    "valid_to": _t(he, D, "GyldigTil", False),
                }
            )
        claims = []
        for f in k.iterfind(f"{{{D}}}Fordring"):
            c = Claim(
                uuid=_t(f, D, "FordringUUID"),
                account_uuid=uid,
                fordringstype=_t(f, D, "FordringstypeUUID"),
                amount=_oere(_t(f, D, "Beloeb")),
                due=_date(_t(f, D, "Forfaldsdato")),
                state=_t(f, D, "Tilstand", False) or "Aktiv",
            )
            c.subclaims = [
                {"uuid": _t(s, D, "DelfordringUUID"), "amount": _oere(_t(s, D, "Beloeb"))}
                for s in f.iterfind(f"{{{D}}}Delfordring")
            ]
            if c.uuid in books.claims:
                raise Refused("DEB-001", f"claim {c.uuid} exists")
            claims.append(c)
        for c in claims:
            acc.claims[c.uuid] = c
            books.claims[c.uuid] = c
        books.accounts[uid] = acc
        # item 1e: tell KY (through the Beskedfordeler) that the account is active in this debtor system
        self._events.append(
            (
                STATUSSKIFT,
                {
                    "account_uuid": uid,
                    "debitor": dict(acc.debitor),
                    "forrige_status": "oprettet",
                    "status": acc.status,
                    "at": datetime.now(UTC),
                },
            )
        )
        return f"debtor account {uid} registered with {len(claims)} claim(s)"

    def op_RetFordringTilstand(self, cvr, books: Books, payload, ns, resp) -> str:  # noqa: N802
        acc = books.account(_t(payload, ns, "DebitorkontoUUID"))
        c = books.claim(_t(payload, ns, "FordringUUID"))
        if c.account_uuid != acc.uuid:
            raise Refused("DEB-004", f"claim {c.uuid} is not on account {acc.uuid}")
        amount = _t(payload, ns, "NedreguleringBeloeb", False)
        if amount:
            value = _oere(amount)
            if value > c.outstanding():
                raise Refused("DEB-006", "the down-adjustment is above what is outstanding")
            c.postings.append(
                Posting(
                    uuid=_t(payload, ns, "NedreguleringUUID", False) or str(uuid.uuid4()),
                    art="Nedregulering",
                    claim_uuid=c.uuid,
                    amount=value,
                    on=date.today(),
                    reason=_t(payload, ns, "Begrundelse", False),
                    reported="KY",
                )
            )
        c.state = _t(payload, ns, "Tilstand")
        return f"claim {c.uuid} is now {c.state}"

    def _afslut(self, books: Books, payload, ns, role: str | None) -> str:
        acc = books.account(_t(payload, ns, "DebitorkontoUUID"))
        hid = _t(payload, ns, "HaeftelseUUID")
        lb = next((h for h in acc.liabilities if h["uuid"] == hid and (role is None or h["role"] == role)), None)
        if lb is None:
            raise Refused("DEB-005", f"no {'liability' if role is None else role} {hid} on account {acc.uuid}")
        lb["valid_to"] = _t(payload, ns, "GyldigTil")
        return f"{lb['role']} {hid} ends {lb['valid_to']}"

    def op_AfslutHaeftelse(self, cvr, books, payload, ns, resp) -> str:  # noqa: N802
        return self._afslut(books, payload, ns, None)

    def op_AfslutAdministrator(self, cvr, books, payload, ns, resp) -> str:  # noqa: N802
        return self._afslut(books, payload, ns, "Administrator")

    # B_02 DebitorForespoergselAfsend ---------------------------------------------------------------

    def op_SoegDebitorkonto(self, cvr, books: Books, payload, ns, resp) -> str:  # noqa: N802
        want = _party(payload.find(f"{{{ns}}}Part"))
        found = [
            a
            for a in books.accounts.values()
            if (want.get("cpr") and a.debitor.get("cpr") == want["cpr"])
            or (want.get("cvr") and a.debitor.get("cvr") == want["cvr"])
        ]
        for a in found:
            el = _sub(resp, ns, "Debitorkonto")
            _sub(el, D, "DebitorkontoUUID", a.uuid)
            _sub(el, D, "DebitorkontoType", a.kind)
            _sub(el, D, "Status", a.status)
            _sub(el, D, "Restbeloeb", _kr(a.outstanding()))
        return f"{len(found)} account(s)"

    def op_LaesDebitorkonto(self, cvr, books: Books, payload, ns, resp) -> str:  # noqa: N802
        a = books.account(_t(payload, ns, "DebitorkontoUUID"))
        el = _sub(resp, ns, "Debitorkonto")
        _sub(el, D, "DebitorkontoUUID", a.uuid)
        h = _sub(el, D, "Hovedoplysninger")
        _sub(h, D, "Version", a.version)
        _sub(h, D, "DebitorkontoType", a.kind)
        _party_el(el, D, "Debitor", a.debitor)
        _sub(el, D, "Status", a.status)
        for lb in a.liabilities:
            he = _sub(el, D, "Haeftelse")
            _sub(he, D, "HaeftelseUUID", lb["uuid"])
            _sub(he, D, "Rolle", lb["role"])
            _party_el(he, D, "Part", lb["party"])
            _sub(he, D, "GyldigFra", lb["valid_from"])
            if lb.get("valid_to"):
                _sub(he, D, "GyldigTil", lb["valid_to"])
        for c in a.claims.values():
            f = _sub(el, D, "Fordring")
            _sub(f, D, "FordringUUID", c.uuid)
            _sub(f, D, "Tilstand", c.state)
            _sub(f, D, "Beloeb", _kr(c.amount))
            _sub(f, D, "Restbeloeb", _kr(c.outstanding()))
            for s in c.subclaims:
                de = _sub(f, D, "Delfordring")
                _sub(de, D, "DelfordringUUID", s["uuid"])
                _sub(de, D, "Beloeb", _kr(s["amount"]))
            for p in c.payments:
                ib = _sub(f, D, "Indbetaling")
                _sub(ib, D, "IndbetalingUUID", p["uuid"])
                _sub(ib, D, "FordringUUID", c.uuid)
                if p.get("subclaim"):
                    _sub(ib, D, "DelfordringUUID", p["subclaim"])
                _sub(ib, D, "Beloeb", _kr(p["amount"]))
                _sub(ib, D, "Valoerdato", p["date"])
            for p in c.postings:
                pe = _sub(f, D, "Postering")
                _sub(pe, D, "PosteringUUID", p.uuid)
                _sub(pe, D, "Art", p.art)
                _sub(pe, D, "FordringUUID", c.uuid)
                if p.subclaim_uuid:
                    _sub(pe, D, "DelfordringUUID", p.subclaim_uuid)
                if p.payment_uuid:
                    _sub(pe, D, "IndbetalingUUID", p.payment_uuid)
                _sub(pe, D, "Beloeb", _kr(p.amount))
                _sub(pe, D, "Dato", p.on)
                if p.reason:
                    _sub(pe, D, "Begrundelse", p.reason)
        _sub(el, D, "Restbeloeb", _kr(a.outstanding()))
        return f"account {a.uuid}"

    # B_03 DebitorIndbetalingAfsend -----------------------------------------------------------------

    def op_ForetagIndbetaling(self, cvr, books: Books, payload, ns, resp) -> str:  # noqa: N802
        ib = payload.find(f"{{{ns}}}Indbetaling")
        if ib is None:
            raise Refused("DEB-007", "Indbetaling is missing")
        pid = _t(ib, D, "IndbetalingUUID")
        c = books.claim(_t(ib, D, "FordringUUID"))
        sub = _t(ib, D, "DelfordringUUID", False)
        amount = _oere(_t(ib, D, "Beloeb"))
        if any(p["uuid"] == pid for p in c.payments):
            return f"payment {pid} was already received"
        if sub and not any(s["uuid"] == sub for s in c.subclaims):
            raise Refused("DEB-004", f"sub-claim {sub} is not part of claim {c.uuid}")
        if amount <= 0 or amount > c.outstanding(sub):
            raise Refused(
                "DEB-006", f"{_kr(amount)} is not between 0 and what is outstanding ({_kr(c.outstanding(sub))})"
            )
        on = _date(_t(ib, D, "Valoerdato"))
        c.payments.append({"uuid": pid, "amount": amount, "date": on, "subclaim": sub})
        # Cover the named sub-claim, or the sub-claims in order, from the payment (dækning).
        left = amount
        for s in c.subclaims:
            if left == 0:
                break
            if sub and s["uuid"] != sub:
                continue
            part = min(left, c.outstanding(s["uuid"]))
            if part > 0:
                c.postings.append(
                    Posting(
                        uuid=str(uuid.uuid4()),
                        art="Daekning",
                        claim_uuid=c.uuid,
                        amount=part,
                        on=on,
                        subclaim_uuid=s["uuid"],
                        payment_uuid=pid,
                        reason="dækning fra indbetaling",
                    )
                )
                left -= part
        if c.outstanding() > 0 and c.state not in ("Annulleret", "Suspenderet"):
            # item 1e: the claim is still open for payment (by the municipality, through KY)
            # (the facts as of this payment: a later change does not alter what this message says)
            acc = books.accounts.get(c.account_uuid)
            facts = {"claim_uuid": c.uuid, "account_uuid": c.account_uuid, "on": on, "beloeb": _kr(c.outstanding())}
            self._events.append((FORDRING_TIL_INDBETALING, {**facts, "debitor": dict(acc.debitor) if acc else {}}))
        return f"payment {pid} of {_kr(amount)} received and covered"

    def op_SoegDelfordringTilIndbetaling(self, cvr, books: Books, payload, ns, resp) -> str:  # noqa: N802
        account = _t(payload, ns, "DebitorkontoUUID", False)
        want = _party(payload.find(f"{{{ns}}}Part"))
        n = 0
        for a in books.accounts.values():
            if account and a.uuid != account:
                continue
            if want and not (
                (want.get("cpr") and a.debitor.get("cpr") == want["cpr"])
                or (want.get("cvr") and a.debitor.get("cvr") == want["cvr"])
            ):
                continue
            for c in a.claims.values():
                if c.state in ("Annulleret", "Suspenderet"):
                    continue
                for s in c.subclaims:
                    rest = c.outstanding(s["uuid"])
                    if rest <= 0:
                        continue
                    el = _sub(resp, ns, "DelfordringTilIndbetaling")
                    _sub(el, D, "DebitorkontoUUID", a.uuid)
                    _sub(el, D, "FordringUUID", c.uuid)
                    _sub(el, D, "DelfordringUUID", s["uuid"])
                    _sub(el, D, "Restbeloeb", _kr(rest))
                    _sub(el, D, "Forfaldsdato", c.due)
                    n += 1
        return f"{n} sub-claim(s) open for payment"

    # checklist item 3: KY's debtor sortiment from Klassifikation (the simulator's SortimentModtag) -----

    def sortiment_modtag(self, cvr: str, payload: etree._Element) -> etree._Element:
        """Keep the sortiment's Klasse UUIDs (a full delivery replaces, a change adds to the version held)."""
        s = payload.find(f"{{{SM}}}Sortiment")
        held = self.sortiments.setdefault(cvr, {})
        resp = etree.Element(f"{{{SM}}}SortimentModtagResponse", nsmap={"sm": SM})
        k = _sub(resp, SM, "Kvittering")
        sid = _t(s, SM, "SortimentUUID", False) if s is not None else None
        _sub(k, SM, "LeveranceUUID", (_t(s, SM, "LeveranceUUID", False) if s is not None else None) or sid)
        _sub(k, SM, "SortimentUUID", sid)
        current = held.get(sid or "", {"version": 0, "klasser": set()})
        try:
            if s is None or sid is None:
                raise Refused("DEB-007", "Sortiment is missing")
            version = int(_t(s, SM, "Version"))
            previous = _t(s, SM, "ForrigeVersion", False)
            full = _t(s, SM, "LeveranceType", False) != "Aendring"
            if not full and int(previous or -1) != current["version"]:
                raise Refused("DEB-010", f"change from version {previous}, but version {current['version']} is held")
            klasser = {(el.findtext("{*}UUIDIdentifikator") or "").strip() for el in s.iterfind(f"{{{SM}}}Klasser/*")}
            current = {
                "version": version,
                "titel": _t(s, SM, "Titel", False),
                "klasser": klasser if full else current["klasser"] | klasser,
            }
            held[sid] = current
            status, text, errors = "ACCEPTERET", f"version {version} with {len(current['klasser'])} klasser", []
        except (Refused, ValueError) as e:
            code, msg = (e.code, e.text) if isinstance(e, Refused) else ("DEB-007", str(e))
            status, text, errors = "AFVIST", msg, [(code, msg)]
        _sub(k, SM, "Forretningskvittering", status)
        _sub(k, SM, "Version", current["version"])
        _sub(k, SM, "Begrundelse", text)
        if errors:
            fl = _sub(k, SM, "FejlListe")
            for code, msg in errors:
                f = _sub(fl, SM, "Fejl")
                _sub(f, SM, "FejlKode", code)
                _sub(f, SM, "FejlTekst", msg)
        return resp

    # to the Beskedfordeler: DebitorkontoStatusskift and FordringTilIndbetaling (item 1e) ---------------

    def besked(self, cvr: str, beskedtype: str, facts: dict) -> tuple[str, bytes]:
        """(BeskedId, Haendelsesbesked) for one event, as this municipality's debtor system sends it."""
        bt_uuid, ns = self.config.beskedtyper[beskedtype]
        ident = self.config.identities[cvr]
        p = etree.Element(f"{{{ns}}}{beskedtype}", nsmap={None: ns})
        if beskedtype == STATUSSKIFT:
            objekt, objekttype, handling = facts["account_uuid"], OBJEKTTYPE_DEBITORKONTO, HANDLING_STATUSSKIFT
            _sub(p, ns, "DebitorkontoUUID", facts["account_uuid"])
            _sub(p, ns, "MyndighedCVR", cvr)
            if facts.get("forrige_status"):
                _sub(p, ns, "ForrigeStatus", facts["forrige_status"])
            _sub(p, ns, "Status", facts["status"])
            _sub(p, ns, "StatusTidspunkt", facts["at"].isoformat(timespec="seconds"))
        else:
            objekt, objekttype, handling = facts["claim_uuid"], OBJEKTTYPE_FORDRING, HANDLING_TIL_INDBETALING
            _sub(p, ns, "FordringUUID", facts["claim_uuid"])
            _sub(p, ns, "DebitorkontoUUID", facts["account_uuid"])
            _sub(p, ns, "MyndighedCVR", cvr)
            _sub(_sub(p, ns, "BetalendeMyndigheder"), ns, "MyndighedCVR", cvr)
            _sub(p, ns, "PeriodeFra", facts.get("on") or date.today())
            _sub(p, ns, "Beloeb", facts["beloeb"])
        party = facts.get("debitor") or {}
        debitor = None
        if party.get("cpr"):
            debitor = f"urn:oio:cpr-nr:{party['cpr']}"
        elif party.get("cvr"):
            debitor = f"urn:oio:cvr-nr:{party['cvr']}"
        besked_id = str(uuid.uuid4())
        return besked_id, _haendelsesbesked(
            besked_id, bt_uuid, cvr, ident.system_uuid, objekt, objekttype, handling, p, debitor
        )

    async def publish(self, cvr: str, beskedtype: str, facts: dict) -> dict:
        """Send one Haendelsesbesked to the simulator's Beskedfordeler over HTTP; returns what it answered."""
        ident = self.config.identities.get(cvr)
        out: dict[str, Any] = {"municipality": cvr, "beskedtype": beskedtype, "besked_id": None}
        if ident is None:
            out.update(status_kode=None, fejl=f"no debtor system is configured for municipality {cvr}")
        else:
            besked_id, body = self.besked(cvr, beskedtype, facts)
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
                    retur = etree.fromstring(r.content, _PARSER)
                    out["status_kode"] = retur.findtext(f".//{{{SAGDOK}}}StatusKode") or r.headers.get("x-statuskode")
                    out["fejl"] = retur.findtext(f".//{{{SAGDOK}}}FejlbeskedTekst")
                except etree.XMLSyntaxError:
                    out.update(status_kode=r.headers.get("x-statuskode"), fejl=f"HTTP {r.status_code}: not XML")
            except httpx.HTTPError as e:
                out.update(status_kode=None, fejl=f"{type(e).__name__}: {e}")
        if out.get("status_kode") != "20":
            log.warning("%s for %s not accepted by the Beskedfordeler: %s", beskedtype, cvr, out.get("fejl"))
        self.published.append(out)
        return out

    async def publish_events(self, cvr: str, events: list[tuple[str, dict]]) -> None:
        async with self._publish_lock:
            for beskedtype, facts in events:
                try:
                    await self.publish(cvr, beskedtype, facts)
                except Exception:  # noqa: BLE001 - best effort: logged, and visible in GET /admin/messages
                    log.exception("could not publish %s for %s", beskedtype, cvr)
                    self.published.append({"municipality": cvr, "beskedtype": beskedtype, "fejl": "internal error"})

    # back to KY: coverages and write-offs ---------------------------------------------------------

    async def send_to_ky(self, cvr: str, posting: Posting) -> dict:
        ident = self.config.identities.get(cvr)
        if ident is None or ident.agreement_uuid is None:
            raise Refused("DEB-009", f"no service agreement for {RETURN_SERVICE} in municipality {cvr}")
        ns = WSDL_NS.format(RETURN_SERVICE)
        op = "RegistrerDaekning" if posting.art == "Daekning" else "RegistrerAfskrivning"
        req = etree.Element(f"{{{ns}}}{op}Request", nsmap={"r": ns, "d": D})
        ac = etree.SubElement(req, f"{{{AC}}}AuthorityContext", nsmap={"ac": AC})
        _sub(ac, AC, "MunicipalityCVR", cvr)
        ic = etree.SubElement(req, f"{{{IC}}}InvocationContext", nsmap={"ic": IC})
        _sub(ic, IC, "ServiceAgreementUUID", ident.agreement_uuid)
        _sub(ic, IC, "UserSystemUUID", ident.system_uuid)
        _sub(ic, IC, "UserUUID", USER_UUID)
        _sub(ic, IC, "ServiceUUID", self.config.return_service_uuid)
        _sub(ic, IC, "CallersServiceCallIdentifier", str(uuid.uuid4()))
        item = _sub(req, ns, "Daekning" if op == "RegistrerDaekning" else "Afskrivning")
        _sub(item, D, "DaekningUUID" if op == "RegistrerDaekning" else "AfskrivningUUID", posting.uuid)
        _sub(item, D, "FordringUUID", posting.claim_uuid)
        if posting.subclaim_uuid:
            _sub(item, D, "DelfordringUUID", posting.subclaim_uuid)
        if op == "RegistrerDaekning" and posting.payment_uuid:
            _sub(item, D, "IndbetalingUUID", posting.payment_uuid)
        _sub(item, D, "Beloeb", _kr(posting.amount))
        _sub(item, D, "Dato", posting.on)
        if op == "RegistrerAfskrivning":
            _sub(item, D, "Aarsag", posting.aarsag or "Andet")
        if posting.reason:
            _sub(item, D, "Begrundelse", posting.reason)
        assert self.http is not None
        r = await self.http.post(
            self.config.simulator_url + self.config.return_path,
            content=_envelope(req),
            headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{ns}{op}"'},
        )
        out: dict[str, Any] = {
            "uuid": posting.uuid,
            "art": posting.art,
            "amount": _kr(posting.amount),
            "http_status": r.status_code,
            "exchange_id": r.headers.get("x-simulator-exchange-id"),
        }
        try:
            root = etree.fromstring(r.content, _PARSER)
        except etree.XMLSyntaxError:
            out["status"] = "FEJLET"
            return out
        kv = root.find(f".//{{{KV}}}Forretningskvittering")
        if kv is not None:
            out["status"] = _t(kv, KV, "ForretningsValideringsKode", False)
            out["begrundelse"] = _t(kv, KV, "Begrundelse", False)
            out["fejl"] = [_t(f, KV, "FejlKode", False) for f in kv.iterfind(f".//{{{KV}}}Fejl")]
        else:
            out["status"] = "FAULT"
            out["fault"] = root.findtext(".//{*}ErrorCode") or root.findtext(".//faultstring")
        posting.reported = out["status"]
        return out

    async def report(self, cvr: str, *, resend: bool = False) -> list[dict]:
        """Send every coverage and write-off KY has not yet accepted (with `resend`: all of them again)."""
        results = []
        for c in self.books_for(cvr).claims.values():
            for p in c.postings:
                if p.art in ("Daekning", "Afskrivning") and (resend or p.reported != "ACCEPTERET"):
                    results.append(await self.send_to_ky(cvr, p))
        return results

    def state(self, cvr: str) -> list[dict]:
        out = []
        for a in self.books_for(cvr).accounts.values():
            out.append(
                {
                    "uuid": a.uuid,
                    "kind": a.kind,
                    "debitor": a.debitor,
                    "status": a.status,
                    "liabilities": a.liabilities,
                    "outstanding": _kr(a.outstanding()),
                    "claims": [
                        {
                            "uuid": c.uuid,
                            "state": c.state,
                            "amount": _kr(c.amount),
                            "outstanding": _kr(c.outstanding()),
                            "subclaims": [
                                {
                                    "uuid": s["uuid"],
                                    "amount": _kr(s["amount"]),
                                    "outstanding": _kr(c.outstanding(s["uuid"])),
                                }
                                for s in c.subclaims
                            ],
                            "payments": [
                                {"uuid": p["uuid"], "amount": _kr(p["amount"]), "date": p["date"].isoformat()}
                                for p in c.payments
                            ],
                            "postings": [
                                {
                                    "uuid": p.uuid,
                                    "art": p.art,
                                    "amount": _kr(p.amount),
                                    "subclaim_uuid": p.subclaim_uuid,
                                    "payment_uuid": p.payment_uuid,
                                    "reason": p.reason,
                                    "reported": p.reported,
                                }
                                for p in c.postings
                            ],
                        }
                        for c in a.claims.values()
                    ],
                }
            )
        return out


class WriteOffIn(BaseModel):
    claim_uuid: str
    amount: Decimal = Field(gt=0, decimal_places=2)
    aarsag: str = Field(default="Uerholdelig", description="Uerholdelig|Foraeldet|Eftergivet|Smaabeloeb|Andet")
    reason: str | None = None
    subclaim_uuid: str | None = None
    send: bool = True


def create_app(config: Config) -> FastAPI:
    debtor = DebtorSystem(config)

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        async with httpx.AsyncClient(timeout=30) as client:
            debtor.http = client
            yield
            await debtor.drain()

    app = FastAPI(title="Reference debtor system (SF1590 reference contract)", lifespan=lifespan)
    app.state.debtor = debtor

    @app.post("/{cvr}/service/{area}/{service}/{version}")
    async def soap(cvr: str, area: str, service: str, version: str, request: Request) -> Response:
        body = await debtor.handle(cvr, service, await request.body())
        if config.auto_report and service == "DebitorIndbetalingAfsend":
            debtor.spawn(_report_quietly(debtor, cvr))
        return Response(body, media_type="text/xml; charset=utf-8")

    @app.get("/admin/{cvr}/accounts")
    async def accounts(cvr: str) -> list[dict]:
        try:
            return debtor.state(cvr)
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
        """Write off (part of) a claim and, with send=true, report it to KY."""
        try:
            c = debtor.books_for(cvr).claim(body.claim_uuid)
            amount = _oere(str(body.amount))
            if amount > c.outstanding(body.subclaim_uuid):
                raise Refused("DEB-006", f"{_kr(amount)} is above what is outstanding ({_kr(c.outstanding())})")
            # Book it on the named sub-claim, or on the sub-claims in order (one posting per sub-claim).
            made, left = [], amount
            for s in c.subclaims:
                if body.subclaim_uuid and s["uuid"] != body.subclaim_uuid:
                    continue
                part = min(left, c.outstanding(s["uuid"]))
                if part > 0:
                    made.append(
                        Posting(
                            uuid=str(uuid.uuid4()),
                            art="Afskrivning",
                            claim_uuid=c.uuid,
                            amount=part,
                            on=date.today(),
                            subclaim_uuid=s["uuid"],
                            reason=body.reason,
                            aarsag=body.aarsag,
                        )
                    )
                    c.postings.append(made[-1])
                    left -= part
            if not body.send:
                return {"postings": [{"uuid": p.uuid, "amount": _kr(p.amount)} for p in made], "status": None}
            results = [await debtor.send_to_ky(cvr, p) for p in made]
            status = "ACCEPTERET" if all(r["status"] == "ACCEPTERET" for r in results) else "AFVIST"
            return {"status": status, "postings": results}
        except Refused as e:
            raise HTTPException(409, f"{e.code}: {e.text}") from None

    @app.get("/admin/{cvr}/sortiments")
    async def sortiments(cvr: str) -> dict:
        """The sortiments this debtor system holds for a municipality (checklist item 3)."""
        return {
            sid: {"version": v["version"], "titel": v.get("titel"), "klasser": sorted(v["klasser"])}
            for sid, v in debtor.sortiments.get(cvr, {}).items()
        }

    @app.get("/admin/messages")
    async def messages() -> list[dict]:
        """What was published to the Beskedfordeler, oldest first, with its StatusKode (20 = accepted)."""
        return debtor.published

    @app.get("/healthz")
    async def health() -> dict:
        return {"ok": True, "municipalities": sorted(config.identities) or "any"}

    return app


async def _report_quietly(debtor: DebtorSystem, cvr: str) -> None:
    try:
        await debtor.report(cvr)
    except Exception:  # noqa: BLE001 - best effort; /admin/<cvr>/report shows what is unsent
        log.warning("automatic coverage report for %s failed", cvr, exc_info=True)
