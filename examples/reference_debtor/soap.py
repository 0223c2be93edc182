"""The SOAP and SF1590 XML every other module uses: namespaces, reading and writing values, the
envelope, the business receipt (``Forretningskvittering``) and a SOAP fault.

What a vendor learns here: an answer is a ``<Operation>Response`` carrying a ``Forretningskvittering``
with ``ACCEPTERET`` or ``AFVIST`` (and, when refused, a ``FejlListe`` with a code and a text); a refusal
is raised as :class:`Refused` anywhere in a handler and turned into that receipt in one place
(``system.DebtorSystem.handle``). Amounts travel as kroner with two decimals and are kept as øre.
The parser refuses entities, DTDs and network access (never parse a caller's XML without that).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from lxml import etree

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
IC = "http://serviceplatformen.dk/xml/schemas/InvocationContext/1/"
AC = "http://serviceplatformen.dk/xml/schemas/AuthorityContext/1/"
KV = "http://serviceplatformen.dk/xml/schemas/kvittering/1/"
D = "http://serviceplatformen.dk/xml/schemas/OIR/Debitor/1/"
WSDL_NS = "http://serviceplatformen.dk/xml/wsdl/soap11/OIR/{}/1/"  # .format(service): the operations' namespace
PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


class Refused(Exception):
    """A business refusal: becomes ``AFVIST`` with (code, text) in the receipt's FejlListe."""

    def __init__(self, code: str, text: str) -> None:
        super().__init__(text)
        self.code, self.text = code, text


# -- reading ------------------------------------------------------------------------------------


def text(el: etree._Element | None, ns: str, name: str, required: bool = True) -> str | None:
    """The stripped text of child `name`; a missing required one is refused (DEB-007)."""
    child = el.find(f"{{{ns}}}{name}") if el is not None else None
    value = (child.text or "").strip() if child is not None else ""
    if not value and required:
        raise Refused("DEB-007", f"{name} is missing")
    return value or None


def oere(value: str) -> int:
    """'1000.50' (kroner) → 100050 (øre)."""
    try:
        return int(Decimal(value) * 100)
    except InvalidOperation:
        raise Refused("DEB-007", f"'{value}' is not an amount") from None


def kr(amount: int) -> str:
    """100050 (øre) → '1000.50' (kroner, as the contract writes amounts)."""
    return f"{Decimal(amount) / 100:.2f}"


def day(value: str | None) -> date | None:
    """An xs:date (or the date part of an xs:dateTime)."""
    try:
        return date.fromisoformat(value[:10]) if value else None
    except ValueError:
        raise Refused("DEB-007", f"'{value}' is not a date") from None


def party(el: etree._Element | None) -> dict[str, str]:
    """A Debitor/Part element as {cpr?, cvr?, name?}."""
    found = {"cpr": text(el, D, "CPR", False), "cvr": text(el, D, "CVR", False), "name": text(el, D, "Navn", False)}
    return {k: v for k, v in found.items() if v}


# -- writing ------------------------------------------------------------------------------------


def sub(parent: etree._Element, ns: str, name: str, value: Any = None) -> etree._Element:
    """Append child `name` (with `value` as text: dates in ISO form) and return it."""
    el = etree.SubElement(parent, f"{{{ns}}}{name}")
    if value is not None:
        el.text = value.isoformat() if isinstance(value, date) else str(value)
    return el


def party_el(parent: etree._Element, name: str, who: dict[str, str]) -> None:
    """The inverse of :func:`party`."""
    p = sub(parent, D, name)
    for key, tag in (("cpr", "CPR"), ("cvr", "CVR"), ("name", "Navn")):
        if who.get(key):
            sub(p, D, tag, who[key])


def fejl_liste(parent: etree._Element, ns: str, errors: list[tuple[str, str]]) -> None:
    """A FejlListe of (FejlKode, FejlTekst) in namespace `ns` (the SF1590 receipt and the sortiment's)."""
    fl = sub(parent, ns, "FejlListe")
    for code, msg in errors:
        f = sub(fl, ns, "Fejl")
        sub(f, ns, "FejlKode", code)
        sub(f, ns, "FejlTekst", msg)


def response(
    service: str, op: str, status: str, why: str | None = None, refused: Refused | None = None
) -> etree._Element:
    """``<op>Response`` with its Forretningskvittering; handlers append their answer after the receipt."""
    ns = WSDL_NS.format(service)
    resp = etree.Element(f"{{{ns}}}{op}Response", nsmap={"r": ns, "d": D})
    kv = etree.SubElement(resp, f"{{{KV}}}Forretningskvittering", nsmap={"kv": KV})
    sub(kv, KV, "ForretningsValideringsKode", status)
    if why:
        sub(kv, KV, "Begrundelse", why)
    if refused is not None:
        fejl_liste(kv, KV, [(refused.code, refused.text)])
    return resp


def envelope(payload: etree._Element) -> bytes:
    """A SOAP 1.1 envelope (no header) around `payload`."""
    env = etree.Element(f"{{{SOAP}}}Envelope", nsmap={"soap": SOAP})
    etree.SubElement(env, f"{{{SOAP}}}Body").append(payload)
    return etree.tostring(env, xml_declaration=True, encoding="utf-8")


def fault(reason: str) -> bytes:
    """A SOAP 1.1 client fault: for a request that is not a readable envelope at all."""
    f = etree.Element(f"{{{SOAP}}}Fault", nsmap={"soap": SOAP})
    etree.SubElement(f, "faultcode").text = "soap:Client"
    etree.SubElement(f, "faultstring").text = reason
    return envelope(f)


def body_payload(body: bytes) -> etree._Element:
    """The first element in the Body of a SOAP envelope; ValueError if there is none."""
    try:
        root = etree.fromstring(body, PARSER)
    except etree.XMLSyntaxError as e:
        raise ValueError(f"malformed XML: {e}") from None
    soap_body = root.find(f"{{{SOAP}}}Body")
    payload = next((c for c in soap_body if isinstance(c.tag, str)), None) if soap_body is not None else None
    if payload is None:
        raise ValueError("not a SOAP 1.1 envelope")
    return payload
