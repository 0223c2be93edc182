"""The `Haendelsesbesked` envelope (ns `urn:oio:besked:kuvert:1.0`): the facts distribution needs, the
delivered copy (trimmed `TilladtModtager`, `TransaktionsId`, `Kildesystem`, `Leveranceruter`), `StandardRetur`
and the push body `ModtagBeskedInput`. Its structure is checked in `kuvert_schema.py`.
"""

from __future__ import annotations

import base64
import copy
import re
from dataclasses import dataclass, field
from datetime import datetime

from lxml import etree

KUVERT = "urn:oio:besked:kuvert:1.0"
SAGDOK = "urn:oio:sagdok:3.0.0"
STS = "urn:oio:sts:1.0.0"
BASE64_NS = "urn:besked:kuvert:1.0"  # production wraps Beskeddata as <Base64 xmlns="urn:besked:kuvert:1.0">

_UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_CVR_URN = re.compile(r"^urn:oio:cvr(?:-nr)?:(\d{8})$", re.IGNORECASE)
_NUM_URN = re.compile(r"^urn:oio:(?:cpr|cvr)(?:-nr)?:(\d{8,10})$", re.IGNORECASE)


def k(name: str) -> str:
    return f"{{{KUVERT}}}{name}"


def sd(name: str) -> str:
    return f"{{{SAGDOK}}}{name}"


# -- facts ----------------------------------------------------------------------------------------------


def unikid(el: etree._Element | None) -> str | None:
    """The identifier text of a UnikIdType/AktoerType element (UUIDs lower-cased)."""
    if el is None:
        return None
    for kid in el:
        tag = kid.tag
        if isinstance(tag, str):
            value = (kid.text or "").strip()
            return value.lower() if tag == _SD_UUID else value
    return None


def cvr_of(identifier: str | None) -> str | None:
    """`urn:oio:cvr-nr:12345678` (or `urn:oio:cvr:…`) → '12345678'."""
    m = _CVR_URN.match(identifier or "")
    return m.group(1) if m else None


def number_of(identifier: str | None) -> str | None:
    """A CPR or CVR number from its URN, for value-list filters."""
    m = _NUM_URN.match(identifier or "")
    return m.group(1) if m else None


@dataclass
class Objektregistrering:
    myndighed: str | None
    objekt_id: str | None
    objekttype: str | None
    objekthandling: str | None
    opgaveemne: str | None


@dataclass
class Besked:
    """What distribution needs to know about an accepted envelope."""

    root: etree._Element
    besked_id: str
    beskedtype: str
    besked_ansvarlig: str | None
    tilladte_modtagere: list[str]
    relaterede_objekter: list[tuple[str | None, str | None]]
    registreringer: list[Objektregistrering]
    transaktions_id: str | None
    kildesystem: str | None
    sikkerhedsklassificering: str | None
    beskeddata: list[etree._Element] = field(default_factory=list)

    @property
    def myndigheder(self) -> set[str | None]:
        return {r.myndighed for r in self.registreringer}

    @property
    def objekt_ids(self) -> list[str]:
        ids = [o for o, _ in self.relaterede_objekter if o] + [r.objekt_id for r in self.registreringer if r.objekt_id]
        return ids


_SD_UUID = sd("UUIDIdentifikator")
_T = {
    name: k(name)
    for name in (
        "BeskedId Beskedkuvert Beskeddata Filtreringsdata Leveranceinformation Beskedtype BeskedAnsvarligAktoer "
        "TilladtModtager RelateretObjekt ObjektRegistrering ObjektAnsvarligMyndighed ObjektId ObjektType "
        "ObjektHandling OpgaveEmne TransaktionsId Kildesystem Sikkerhedsklassificering Leveranceruter"
    ).split()
}


def _first_children(el: etree._Element) -> dict:
    """Each child tag → its first child element with that tag (one pass; `el.find(tag)` for every tag)."""
    out: dict = {}
    for kid in el:
        out.setdefault(kid.tag, kid)
    return out


def _kuvert(root: etree._Element) -> dict:
    """The children of a Haendelsesbesked's Beskedkuvert (Filtreringsdata, Leveranceinformation), by tag."""
    return _first_children(root.find(_T["Beskedkuvert"]))


def read_besked(root: etree._Element) -> Besked:
    """The facts of a structurally valid Haendelsesbesked."""
    t = _T
    kuvert = _kuvert(root)
    f, li = kuvert[t["Filtreringsdata"]], kuvert[t["Leveranceinformation"]]
    tilladte, relaterede, regs = [], [], []
    for el in f:
        tag = el.tag
        if tag == t["TilladtModtager"]:
            tilladte.append(unikid(el) or "")
        elif tag == t["RelateretObjekt"]:
            kids = _first_children(el)
            relaterede.append((unikid(kids.get(t["ObjektId"])), unikid(kids.get(t["ObjektType"]))))
        elif tag == t["ObjektRegistrering"]:
            kids = _first_children(el)
            regs.append(
                Objektregistrering(
                    myndighed=unikid(kids.get(t["ObjektAnsvarligMyndighed"])),
                    objekt_id=unikid(kids.get(t["ObjektId"])),
                    objekttype=unikid(kids.get(t["ObjektType"])),
                    objekthandling=unikid(kids.get(t["ObjektHandling"])),
                    opgaveemne=unikid(kids.get(t["OpgaveEmne"])),
                )
            )
    f_kids, li_kids = _first_children(f), _first_children(li)
    return Besked(
        root=root,
        besked_id=unikid(root.find(t["BeskedId"])) or "",
        beskedtype=unikid(f_kids.get(t["Beskedtype"])) or "",
        besked_ansvarlig=unikid(f_kids.get(t["BeskedAnsvarligAktoer"])),
        tilladte_modtagere=tilladte,
        relaterede_objekter=relaterede,
        registreringer=regs,
        transaktions_id=unikid(li_kids.get(t["TransaktionsId"])),
        kildesystem=unikid(li_kids.get(t["Kildesystem"])),
        sikkerhedsklassificering=unikid(li_kids.get(t["Sikkerhedsklassificering"])),
        beskeddata=root.findall(t["Beskeddata"]),
    )


def _elements(el: etree._Element) -> list[etree._Element]:
    return [c for c in el if isinstance(c.tag, str)]


def beskeddata_payload(beskeddata: etree._Element) -> etree._Element | None:
    """The XML inside one Beskeddata: its element child, or the decoded content of a `Base64` wrapper."""
    kids = _elements(beskeddata)
    if not kids:
        return None
    first = kids[0]
    if etree.QName(first).localname == "Base64" and etree.QName(first).namespace in (BASE64_NS, KUVERT):
        raw = base64.b64decode("".join((first.text or "").split()), validate=False)
        from simulator.soap.envelope import parse_xml

        return parse_xml(raw)
    return first


# -- building -------------------------------------------------------------------------------------------


def _xml_time(at: datetime) -> str:
    return at.isoformat(timespec="milliseconds")


def _unik(parent: etree._Element, name: str, value: str) -> etree._Element:
    el = etree.SubElement(parent, k(name))
    tag = "UUIDIdentifikator" if _UUID_RE.match(value) else "URNIdentifikator"
    etree.SubElement(el, sd(tag)).text = value
    return el


def _aktoer(parent: etree._Element, name: str, uuid_value: str) -> etree._Element:
    el = etree.SubElement(parent, k(name))
    etree.SubElement(el, sd("UUIDIdentifikator")).text = uuid_value
    return el


def _tid(parent: etree._Element, name: str, at: datetime) -> etree._Element:
    el = etree.SubElement(parent, k(name))
    etree.SubElement(el, sd("TidsstempelDatoTid")).text = _xml_time(at)
    return el


_LI_ORDER = [
    "Dannelsestidspunkt",
    "TransaktionsId",
    "Kildesystem",
    "KildesystemIPAdresse",
    "KildesystemAkkreditiver",
    "Sikkerhedsklassificering",
    "Leveranceruter",
    "LeveranceinformationLokalUdvidelse",
]  # the sequence of Beskedkuvert.xsd's LeveranceinformationType
_LI_RANK = {k(name): i for i, name in enumerate(_LI_ORDER)}
_LEVERANCERUTE = k("Leverancerute")
_LEVERANCERUTE_LU = k("LeveranceruteLokalUdvidelse")
_ANTAL = k("AntalLeveranceforsoeg")


def _insert_in_order(parent: etree._Element, new: etree._Element) -> None:
    """Place `new` (already a child of Leveranceinformation, appended last) where the XSD sequence wants it."""
    parent.remove(new)
    rank = _LI_RANK[new.tag]
    for i, kid in enumerate(parent):
        if _LI_RANK.get(kid.tag, -1) > rank:
            parent.insert(i, new)
            return
    parent.append(new)


@dataclass
class Leverance:
    """How one copy is delivered: the subscription it follows and the route facts."""

    abonnement: str
    fordelingssystem: str
    modtaget_fra: str | None
    modtaget: datetime
    leveret: datetime
    forsoeg: int
    transaktions_id: str
    kildesystem: str | None
    tilladte_modtagere: list[str] | None  # None: leave as sent


def delivered_copy(original: bytes | etree._Element, lev: Leverance, *, in_place: bool = False) -> etree._Element:
    """The copy a dueslag receives: TilladtModtager trimmed, TransaktionsId filled in, Kildesystem set to the
    identified sender, and a Leverancerute (ErLeveretIHenholdTil + AntalLeveranceforsoeg) appended. A parsed
    original is copied first, unless `in_place` (the caller's last use of it)."""
    from simulator.soap.envelope import parse_xml

    if isinstance(original, bytes):
        root = parse_xml(original)
    else:
        root = original if in_place else copy.deepcopy(original)
    t = _T
    if lev.tilladte_modtagere is not None:
        f = _kuvert(root)[t["Filtreringsdata"]]
        keep = set(lev.tilladte_modtagere)
        for el in f.findall(t["TilladtModtager"]):
            if unikid(el) not in keep:
                f.remove(el)
    li = _kuvert(root)[t["Leveranceinformation"]]
    kids = _first_children(li)
    if t["TransaktionsId"] not in kids:
        _insert_in_order(li, _unik(li, "TransaktionsId", lev.transaktions_id))
    if lev.kildesystem:  # the Beskedfordeler names the identified sender, whatever the sender wrote
        if t["Kildesystem"] in kids:
            li.remove(kids[t["Kildesystem"]])
        _insert_in_order(li, _aktoer(li, "Kildesystem", lev.kildesystem))
    ruter = kids.get(t["Leveranceruter"])
    if ruter is None:
        ruter = etree.SubElement(li, t["Leveranceruter"])
        _insert_in_order(li, ruter)
    rute = etree.SubElement(ruter, _LEVERANCERUTE)
    _unik(rute, "Fordelingssystem", lev.fordelingssystem)
    _tid(rute, "ModtagelsesTidspunkt", lev.modtaget)
    _tid(rute, "LeveranceTidspunkt", lev.leveret)
    if lev.modtaget_fra:
        _aktoer(rute, "ModtagetFraSystem", lev.modtaget_fra)
    _unik(rute, "ErLeveretIHenholdTil", lev.abonnement)
    lu = etree.SubElement(rute, _LEVERANCERUTE_LU)
    etree.SubElement(lu, _ANTAL).text = str(lev.forsoeg)
    return root


def set_forsoeg(root: etree._Element, forsoeg: int) -> None:
    """Update AntalLeveranceforsoeg of the last Leverancerute (ours) in a delivered copy."""
    found = root.findall(f".//{k('Leverancerute')}/{k('LeveranceruteLokalUdvidelse')}/{k('AntalLeveranceforsoeg')}")
    if found:
        found[-1].text = str(forsoeg)


def standard_retur(status: int, text: str | None = None) -> bytes:
    """`<StandardRetur xmlns="urn:oio:sagdok:3.0.0"><StatusKode>…</StatusKode><FejlbeskedTekst>…`."""
    el = etree.Element(sd("StandardRetur"), nsmap={None: SAGDOK})
    etree.SubElement(el, sd("StatusKode")).text = str(status)
    if text:
        etree.SubElement(el, sd("FejlbeskedTekst")).text = text
    return etree.tostring(el, xml_declaration=True, encoding="utf-8", standalone=True)


def modtag_besked_input(besked: etree._Element) -> bytes:
    """The push body: `ModtagBeskedInput` (ns urn:oio:sts:1.0.0) wrapping one Haendelsesbesked."""
    el = etree.Element(f"{{{STS}}}ModtagBeskedInput", nsmap={"sts": STS, "besked": KUVERT, None: SAGDOK})
    el.append(etree.fromstring(etree.tostring(besked)))
    return etree.tostring(el, xml_declaration=True, encoding="utf-8", standalone=True)


def parse_copy(body: bytes) -> etree._Element:
    """Parse a delivered copy or push body (hardened parser)."""
    from simulator.soap.envelope import parse_xml

    return parse_xml(body)


def read_statuskode(body: bytes) -> tuple[int | None, str | None]:
    """StatusKode and FejlbeskedTekst from a ModtagBeskedOutput (or a bare StandardRetur)."""
    from simulator.soap.envelope import parse_xml

    root = parse_xml(body)
    code = root.find(f".//{sd('StatusKode')}")
    text = root.findtext(f".//{sd('FejlbeskedTekst')}")
    if code is None:
        return None, None
    try:
        return int((code.text or "").strip()), text
    except ValueError:
        return None, text
