"""The structure check of a `Haendelsesbesked`: it follows Beskedkuvert.xsd element by element.

The official XSD cannot ship with the simulator, so the structure is checked here in code; the tests
prove that what passes here and what we emit validates against the official schema.
"""

from __future__ import annotations

import functools
import re

from lxml import etree

from simulator.beskedfordeler.kuvert import KUVERT, SAGDOK, k, sd

_DATETIME_RE = re.compile(r"^-?\d{4,}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?$")


class KuvertError(ValueError):
    """The envelope does not follow Beskedkuvert.xsd; `path` says where."""

    def __init__(self, path: str, text: str) -> None:
        self.path = path
        super().__init__(f"{path}: {text}")


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
    """Raise KuvertError unless `root` is a Haendelsesbesked that follows Beskedkuvert.xsd and carries a UUID
    as BeskedId.

    `_quick_schema()` decides (C speed): it has the official schema's elements, order, cardinality, value
    types (xs:dateTime, xs:boolean, xs:integer), no mixed content, no attributes and no nil, so it is at least
    as strict (tests/beskedfordeler/test_kuvert_differential.py proves it against the official file). When it
    refuses, the element walk below explains where, in words; the schema's own message where the walk finds
    nothing."""
    if root.tag != _HAENDELSESBESKED:
        raise KuvertError("/", f"root element is {root.tag}, expected {_HAENDELSESBESKED}")
    schema = _quick_schema()
    if not schema.validate(root):
        err = schema.error_log.last_error
        _check(root, "Haendelsesbesked", "/Haendelsesbesked")
        raise KuvertError(f"line {err.line}", _schema_message(err.message))
    _check_besked_id(root)


def _schema_message(message: str) -> str:
    """libxml2's message without our internal schema's type names."""
    return re.sub(r"\{urn:simulator:[^}]*\}", "", message)


_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def _check_besked_id(root: etree._Element) -> None:
    """BeskedId is a UUID (UUIDIdentifikator): receivers use it as their idempotency key."""
    el = root.find(k("BeskedId"))
    uuid_el = el.find(sd("UUIDIdentifikator")) if el is not None else None
    value = (uuid_el.text or "").strip() if uuid_el is not None else ""
    if uuid_el is None or not _UUID.fullmatch(value):
        shown = f"'{value}'" if uuid_el is not None else "not a UUIDIdentifikator"
        raise KuvertError("/Haendelsesbesked/BeskedId", f"{shown} is not a UUID; every message needs a new UUID")


_HAENDELSESBESKED = k("Haendelsesbesked")
_XS = "http://www.w3.org/2001/XMLSchema"
_DS = "http://www.w3.org/2000/09/xmldsig#"
_SIGNATUR = {"ObjektRegistreringLokalUdvidelse": "AfsenderSystemSignatur"}
_SIGNATUR["LeveranceinformationLokalUdvidelse"] = "BeskedfordelerSignatur"


def _quick_schema_documents() -> tuple[str, str, str]:
    """An XSD made from `_TYPES` with the official schema's content models and value types: the same
    elements, order and cardinality; xs:dateTime, xs:boolean, xs:integer values; Beskeddata any elements
    but no text; no attributes (but xsi:…) and nothing nillable. (Inside a ds:Signature it checks nothing.)"""
    leaf = {_UNIKID: "k:UnikId", _AKTOER: "k:Aktoer", _TIDSPUNKT: "k:Tidspunkt", _STRING: "xs:string"}
    leaf |= {_INTEGER: "xs:integer", _ANY: "k:Any"}
    types = []
    for name, spec in _TYPES.items():
        particles = "".join(
            f'<xs:element name="{el}" type="{"k:" + el if sub == _LOKAL else leaf.get(sub, "k:" + sub)}" '
            f'minOccurs="{lo}" maxOccurs="{"unbounded" if hi is None else hi}" block="#all"/>'
            for el, lo, hi, sub in spec
        )
        if name == "LeveranceruteLU":
            particles += '<xs:any namespace="##other" processContents="skip" minOccurs="0" maxOccurs="unbounded"/>'
        types.append(f'<xs:complexType name="{name}"><xs:sequence>{particles}</xs:sequence></xs:complexType>')
    for el, signatur in _SIGNATUR.items():
        types.append(
            f'<xs:complexType name="{el}"><xs:sequence><xs:element name="{signatur}" minOccurs="0" '
            f'block="#all"><xs:complexType><xs:sequence><xs:element ref="ds:Signature"/></xs:sequence>'
            "</xs:complexType></xs:element>"
            '<xs:any namespace="##other" processContents="skip" minOccurs="0" maxOccurs="unbounded"/>'
            "</xs:sequence></xs:complexType>"
        )
    kuvert = f"""<xs:schema xmlns:xs="{_XS}" xmlns:k="{KUVERT}" xmlns:sd="{SAGDOK}" xmlns:ds="{_DS}"
    targetNamespace="{KUVERT}" elementFormDefault="qualified" blockDefault="#all">
  <xs:import namespace="{SAGDOK}" schemaLocation="quick-sagdok.xsd"/>
  <xs:import namespace="{_DS}" schemaLocation="quick-ds.xsd"/>
  <xs:element name="Haendelsesbesked" type="k:Haendelsesbesked"/>
  <xs:complexType name="UnikId"><xs:choice><xs:element ref="sd:UUIDIdentifikator"/>
    <xs:element ref="sd:URNIdentifikator"/></xs:choice></xs:complexType>
  <xs:complexType name="Aktoer"><xs:sequence><xs:element ref="sd:UUIDIdentifikator"/></xs:sequence></xs:complexType>
  <xs:complexType name="Tidspunkt"><xs:choice><xs:element ref="sd:TidsstempelDatoTid"/>
    <xs:element ref="sd:GraenseIndikator"/></xs:choice></xs:complexType>
  <xs:complexType name="Any"><xs:sequence>
    <xs:any namespace="##any" processContents="skip" minOccurs="0" maxOccurs="unbounded"/></xs:sequence>
  </xs:complexType>
  {"".join(types)}
</xs:schema>"""
    sagdok = f"""<xs:schema xmlns:xs="{_XS}" targetNamespace="{SAGDOK}" elementFormDefault="qualified"
    blockDefault="#all">
  <xs:element name="UUIDIdentifikator" type="xs:string"/>
  <xs:element name="URNIdentifikator" type="xs:string"/>
  <xs:element name="TidsstempelDatoTid" type="xs:dateTime"/>
  <xs:element name="GraenseIndikator" type="xs:boolean"/>
</xs:schema>"""
    ds = f"""<xs:schema xmlns:xs="{_XS}" targetNamespace="{_DS}" elementFormDefault="qualified">
  <xs:element name="Signature"><xs:complexType><xs:sequence>
    <xs:any namespace="##any" processContents="skip" minOccurs="0" maxOccurs="unbounded"/></xs:sequence>
    <xs:anyAttribute namespace="##any" processContents="skip"/></xs:complexType></xs:element>
</xs:schema>"""
    return kuvert, sagdok, ds


@functools.cache
def _quick_schema() -> etree.XMLSchema:
    kuvert, sagdok, ds = _quick_schema_documents()
    docs = {"quick-sagdok.xsd": sagdok, "quick-ds.xsd": ds}

    class Resolver(etree.Resolver):
        def resolve(self, url, _id, context):
            name = url.rsplit("/", 1)[-1].rsplit(":", 1)[-1]
            if name in docs:
                return self.resolve_string(docs[name], context)
            return None

    parser = etree.XMLParser(no_network=True, resolve_entities=False)
    parser.resolvers.add(Resolver())
    return etree.XMLSchema(etree.fromstring(kuvert.encode(), parser, base_url="urn:simulator:quick-kuvert.xsd"))
