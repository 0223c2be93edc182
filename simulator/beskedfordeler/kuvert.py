"""The `Haendelsesbesked` envelope (ns `urn:oio:besked:kuvert:1.0`): structural checks that follow the
official Beskedkuvert.xsd element by element, the facts distribution needs, the delivered copy
(trimmed `TilladtModtager`, `TransaktionsId`, `Kildesystem`, `Leveranceruter`), `StandardRetur` and
the push body `ModtagBeskedInput`.

The official XSD cannot ship with the simulator, so the structure is checked here in code; the tests
prove that what passes here and what we emit validates against the official schema.
"""

from __future__ import annotations

import base64
import copy
import functools
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
_DATETIME_RE = re.compile(r"^-?\d{4,}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?$")


class KuvertError(ValueError):
    """The envelope does not follow Beskedkuvert.xsd; `path` says where."""

    def __init__(self, path: str, text: str) -> None:
        self.path = path
        super().__init__(f"{path}: {text}")


def k(name: str) -> str:
    return f"{{{KUVERT}}}{name}"


def sd(name: str) -> str:
    return f"{{{SAGDOK}}}{name}"


# -- structure (mirrors Beskedkuvert.xsd; names are element local names in the kuvert namespace) --------

_UNIKID, _TIDSPUNKT, _AKTOER, _STRING, _INTEGER, _ANY, _LOKAL = (
    "unikid",
    "tidspunkt",
    "aktoer",
    "string",
    "integer",
    "any",
    "lokal",
)

# complex type → ordered list of (element, minOccurs, maxOccurs or None for unbounded, type)
_TYPES: dict[str, list[tuple[str, int, int | None, str]]] = {
    "Haendelsesbesked": [
        ("BeskedId", 1, 1, _UNIKID),
        ("BeskedVersion", 1, 1, _STRING),
        ("Beskedkuvert", 1, 1, "Beskedkuvert"),
        ("Beskeddata", 0, None, _ANY),
    ],
    "Beskedkuvert": [
        ("Filtreringsdata", 1, 1, "Filtreringsdata"),
        ("Leveranceinformation", 1, 1, "Leveranceinformation"),
        ("Modtagerhandling", 0, 1, "Modtagerhandling"),
        ("GyldighedFra", 0, 1, _TIDSPUNKT),
        ("GyldighedTil", 0, 1, _TIDSPUNKT),
    ],
    "Filtreringsdata": [
        ("Beskedtype", 1, 1, _UNIKID),
        ("BeskedAnsvarligAktoer", 0, 1, _AKTOER),
        ("TilladtModtager", 0, None, _UNIKID),
        ("RelateretObjekt", 0, None, "RelateretObjekt"),
        ("ObjektRegistrering", 0, None, "ObjektRegistrering"),
        ("TvaergaaendeProces", 0, None, _UNIKID),
    ],
    "RelateretObjekt": [("ObjektId", 1, 1, _UNIKID), ("ObjektType", 1, 1, _UNIKID), ("ObjektRolle", 0, 1, _UNIKID)],
    "ObjektRegistrering": [
        ("ObjektRegistreringId", 0, 1, _UNIKID),
        ("RegistreringsAktoer", 0, 1, _AKTOER),
        ("Registreringstidspunkt", 0, 1, _TIDSPUNKT),
        ("ObjektAnsvarligMyndighed", 0, 1, _UNIKID),
        ("ObjektId", 0, 1, _UNIKID),
        ("ObjektType", 0, 1, _UNIKID),
        ("ObjektHandling", 0, 1, _UNIKID),
        ("OpgaveEmne", 0, 1, _UNIKID),
        ("ObjektRegistreringLokalUdvidelse", 0, 1, _LOKAL),
    ],
    "Leveranceinformation": [
        ("Dannelsestidspunkt", 0, 1, _TIDSPUNKT),
        ("TransaktionsId", 0, 1, _UNIKID),
        ("Kildesystem", 0, 1, _AKTOER),
        ("KildesystemIPAdresse", 0, 1, _STRING),
        ("KildesystemAkkreditiver", 0, 1, _STRING),
        ("Sikkerhedsklassificering", 0, 1, _UNIKID),
        ("Leveranceruter", 0, 1, "Leveranceruter"),
        ("LeveranceinformationLokalUdvidelse", 0, 1, _LOKAL),
    ],
    "Leveranceruter": [("Leverancerute", 0, None, "Leverancerute")],
    "Leverancerute": [
        ("Fordelingssystem", 0, 1, _UNIKID),
        ("ModtagelsesTidspunkt", 0, 1, _TIDSPUNKT),
        ("LeveranceTidspunkt", 0, 1, _TIDSPUNKT),
        ("ModtagetFraSystem", 0, 1, _AKTOER),
        ("ErLeveretIHenholdTil", 0, 1, _UNIKID),
        ("LeveranceruteLokalUdvidelse", 0, 1, "LeveranceruteLU"),
    ],
    "LeveranceruteLU": [("AntalLeveranceforsoeg", 0, 1, _INTEGER)],  # then any ##other
    "Modtagerhandling": [("Handling", 0, 1, _UNIKID), ("Responsmodtager", 0, 1, _AKTOER)],
}


def _elements(el: etree._Element) -> list[etree._Element]:
    return [c for c in el if isinstance(c.tag, str)]


def _text_only(el: etree._Element, path: str) -> str:
    if _elements(el):
        raise KuvertError(path, "must hold text, not elements")
    return (el.text or "").strip()


def _check_unikid(el: etree._Element, path: str) -> None:
    kids = _elements(el)
    if len(kids) != 1 or kids[0].tag not in (sd("UUIDIdentifikator"), sd("URNIdentifikator")):
        raise KuvertError(path, f"must hold exactly one {{{SAGDOK}}}UUIDIdentifikator or URNIdentifikator")
    _text_only(kids[0], f"{path}/{etree.QName(kids[0]).localname}")


def _check_aktoer(el: etree._Element, path: str) -> None:
    kids = _elements(el)
    if len(kids) != 1 or kids[0].tag != sd("UUIDIdentifikator"):
        raise KuvertError(path, f"must hold exactly one {{{SAGDOK}}}UUIDIdentifikator (an AktoerType)")
    _text_only(kids[0], f"{path}/UUIDIdentifikator")


def _check_tidspunkt(el: etree._Element, path: str) -> None:
    kids = _elements(el)
    if len(kids) != 1 or kids[0].tag not in (sd("TidsstempelDatoTid"), sd("GraenseIndikator")):
        raise KuvertError(path, f"must hold exactly one {{{SAGDOK}}}TidsstempelDatoTid or GraenseIndikator")
    value = _text_only(kids[0], path)
    if kids[0].tag == sd("TidsstempelDatoTid") and not _DATETIME_RE.match(value):
        raise KuvertError(f"{path}/TidsstempelDatoTid", f"'{value}' is not an xs:dateTime")
    if kids[0].tag == sd("GraenseIndikator") and value not in ("true", "false", "1", "0"):
        raise KuvertError(f"{path}/GraenseIndikator", f"'{value}' is not an xs:boolean")


def _check(el: etree._Element, type_name: str, path: str) -> None:
    if type_name == _UNIKID:
        return _check_unikid(el, path)
    if type_name == _AKTOER:
        return _check_aktoer(el, path)
    if type_name == _TIDSPUNKT:
        return _check_tidspunkt(el, path)
    if type_name == _STRING:
        return None if not _elements(el) else _text_only(el, path) and None
    if type_name == _INTEGER:
        value = _text_only(el, path)
        if not re.fullmatch(r"[+-]?\d+", value):
            raise KuvertError(path, f"'{value}' is not an xs:integer")
        return None
    if type_name == _ANY:
        return None
    if type_name == _LOKAL:  # optional kuvert signature element, then anything in another namespace
        for kid in _elements(el):
            if etree.QName(kid).namespace == KUVERT and not etree.QName(kid).localname.endswith("Signatur"):
                raise KuvertError(f"{path}/{etree.QName(kid).localname}", "unexpected element")
        return None
    spec = _TYPES[type_name]
    kids = _elements(el)
    i = 0
    for name, lo, hi, sub in spec:
        n = 0
        while i < len(kids) and kids[i].tag == k(name):
            n += 1
            _check(kids[i], sub, f"{path}/{name}")
            i += 1
        if n < lo:
            raise KuvertError(path, f"{name} is required here")
        if hi is not None and n > hi:
            raise KuvertError(path, f"{name} may occur at most {hi} time(s)")
    if type_name == "LeveranceruteLU":
        rest = [c for c in kids[i:] if etree.QName(c).namespace == KUVERT]
        kids = kids[:i] + rest
    if i < len(kids):
        extra = kids[i]
        qn = etree.QName(extra)
        where = "in the wrong place or unknown" if qn.namespace == KUVERT else f"in namespace '{qn.namespace}'"
        allowed = ", ".join(s[0] for s in spec)
        raise KuvertError(f"{path}/{qn.localname}", f"unexpected element ({where}); {type_name} holds {allowed}")
    return None


def check_structure(root: etree._Element) -> None:
    """Raise KuvertError unless `root` is a Haendelsesbesked that follows Beskedkuvert.xsd.

    First `_quick_schema()` (C speed): what it accepts, the element walk below accepts too. Anything else
    (including what the walk accepts but the schema is stricter about) is decided, and explained, by the walk."""
    if root.tag == _HAENDELSESBESKED and _quick_schema().validate(root):
        return
    if root.tag != _HAENDELSESBESKED:
        raise KuvertError("/", f"root element is {root.tag}, expected {_HAENDELSESBESKED}")
    _check(root, "Haendelsesbesked", "/Haendelsesbesked")


_HAENDELSESBESKED = k("Haendelsesbesked")
_XS = "http://www.w3.org/2001/XMLSchema"
_INTEGER_XSD = r"[+\-]?[0-9]+"
_DATETIME_XSD = r"-?[0-9]{4,}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+\-][0-9]{2}:[0-9]{2})?"


def _quick_schema_documents() -> tuple[str, str]:
    """An XSD made from `_TYPES` that accepts a subset of what `_check` accepts: the same elements, order
    and cardinality; no attributes, no text between elements, no whitespace around values, only ASCII
    digits, no kuvert `…Signatur` in the local extensions, no un-namespaced extension elements (all of
    which `_check` allows, and then decides)."""
    leaf = {_UNIKID: "k:UnikId", _AKTOER: "k:Aktoer", _TIDSPUNKT: "k:Tidspunkt", _STRING: "xs:string"}
    leaf |= {_INTEGER: "k:Integer", _ANY: "k:Any", _LOKAL: "k:Lokal"}
    types = []
    for name, spec in _TYPES.items():
        particles = "".join(
            f'<xs:element name="{el}" type="{leaf.get(sub, "k:" + sub)}" minOccurs="{lo}" '
            f'maxOccurs="{"unbounded" if hi is None else hi}" block="#all"/>'
            for el, lo, hi, sub in spec
        )
        if name == "LeveranceruteLU":
            particles += '<xs:any namespace="##other" processContents="skip" minOccurs="0" maxOccurs="unbounded"/>'
        types.append(f'<xs:complexType name="{name}"><xs:sequence>{particles}</xs:sequence></xs:complexType>')
    kuvert = f"""<xs:schema xmlns:xs="{_XS}" xmlns:k="{KUVERT}" xmlns:sd="{SAGDOK}" targetNamespace="{KUVERT}"
    elementFormDefault="qualified" blockDefault="#all">
  <xs:import namespace="{SAGDOK}" schemaLocation="quick-sagdok.xsd"/>
  <xs:element name="Haendelsesbesked" type="k:Haendelsesbesked"/>
  <xs:complexType name="UnikId"><xs:choice><xs:element ref="sd:UUIDIdentifikator"/>
    <xs:element ref="sd:URNIdentifikator"/></xs:choice></xs:complexType>
  <xs:complexType name="Aktoer"><xs:sequence><xs:element ref="sd:UUIDIdentifikator"/></xs:sequence></xs:complexType>
  <xs:complexType name="Tidspunkt"><xs:choice><xs:element ref="sd:TidsstempelDatoTid"/>
    <xs:element ref="sd:GraenseIndikator"/></xs:choice></xs:complexType>
  <xs:simpleType name="Integer"><xs:restriction base="xs:string"><xs:pattern value="{_INTEGER_XSD}"/>
    </xs:restriction></xs:simpleType>
  <xs:complexType name="Any" mixed="true"><xs:sequence>
    <xs:any namespace="##any" processContents="skip" minOccurs="0" maxOccurs="unbounded"/></xs:sequence>
    <xs:anyAttribute namespace="##any" processContents="skip"/></xs:complexType>
  <xs:complexType name="Lokal"><xs:sequence>
    <xs:any namespace="##other" processContents="skip" minOccurs="0" maxOccurs="unbounded"/></xs:sequence>
  </xs:complexType>
  {"".join(types)}
</xs:schema>"""
    sagdok = f"""<xs:schema xmlns:xs="{_XS}" targetNamespace="{SAGDOK}" elementFormDefault="qualified"
    blockDefault="#all">
  <xs:element name="UUIDIdentifikator" type="xs:string"/>
  <xs:element name="URNIdentifikator" type="xs:string"/>
  <xs:element name="TidsstempelDatoTid"><xs:simpleType><xs:restriction base="xs:string">
    <xs:pattern value="{_DATETIME_XSD}"/></xs:restriction></xs:simpleType></xs:element>
  <xs:element name="GraenseIndikator"><xs:simpleType><xs:restriction base="xs:string">
    <xs:enumeration value="true"/><xs:enumeration value="false"/><xs:enumeration value="1"/>
    <xs:enumeration value="0"/></xs:restriction></xs:simpleType></xs:element>
</xs:schema>"""
    return kuvert, sagdok


@functools.cache
def _quick_schema() -> etree.XMLSchema:
    kuvert, sagdok = _quick_schema_documents()

    class Resolver(etree.Resolver):
        def resolve(self, url, _id, context):
            if url.endswith("quick-sagdok.xsd"):
                return self.resolve_string(sagdok, context)
            return None

    parser = etree.XMLParser(no_network=True, resolve_entities=False)
    parser.resolvers.add(Resolver())
    return etree.XMLSchema(etree.fromstring(kuvert.encode(), parser, base_url="urn:simulator:quick-kuvert.xsd"))


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


_LI_ORDER = [s[0] for s in _TYPES["Leveranceinformation"]]
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
    """The copy a dueslag receives: TilladtModtager trimmed, TransaktionsId/Kildesystem filled in,
    and a Leverancerute (ErLeveretIHenholdTil + AntalLeveranceforsoeg) appended. A parsed original is
    copied first, unless `in_place` (the caller's last use of it)."""
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
    if t["Kildesystem"] not in kids and lev.kildesystem:
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
