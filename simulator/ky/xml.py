"""Small helpers to build and read the SF1590 reference messages with lxml (amounts in øre)."""

from __future__ import annotations

import functools
import re
from datetime import date
from decimal import Decimal, InvalidOperation

from lxml import etree

from simulator.ky.contracts import DEBITOR_NS
from simulator.soap.envelope import build_envelope
from simulator.soap.kvittering import Kvittering, build_kvittering


class BadValue(ValueError):
    """A value in a message that cannot be read (missing element, bad amount, bad date)."""


def sub(parent: etree._Element, ns: str, name: str, text: object | None = None) -> etree._Element:
    el = etree.SubElement(parent, f"{{{ns}}}{name}")
    if text is not None:
        el.text = text.isoformat() if isinstance(text, date) else str(text)
    return el


def opt(parent: etree._Element, ns: str, name: str, text: object | None) -> None:
    if text not in (None, ""):
        sub(parent, ns, name, text)


def kroner(oere: int) -> str:
    """øre → "1234.50"."""
    return f"{Decimal(oere) / 100:.2f}"


def oere(value: str | Decimal | int | float) -> int:
    """ "1234.50" (or a Decimal) → øre; at most two decimals."""
    try:
        d = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise BadValue(f"'{value}' is not an amount") from None
    if not d.is_finite():
        raise BadValue(f"'{value}' is not an amount")
    cents = d * 100
    if cents != cents.to_integral_value():
        raise BadValue(f"amount '{value}' has more than two decimals")
    return int(cents)


def text(el: etree._Element, ns: str, name: str, *, required: bool = True) -> str | None:
    """The stripped text of the first child ``{ns}name`` (iterchildren: a C-level scan, unlike find's path
    machinery on the hot path)."""
    child = next(el.iterchildren(f"{{{ns}}}{name}"), None)
    value = (child.text or "").strip() if child is not None else ""
    if not value:
        if required:
            raise BadValue(f"{etree.QName(el).localname}/{name} is missing")
        return None
    return value


def date_of(el: etree._Element, ns: str, name: str, *, required: bool = True) -> date | None:
    value = text(el, ns, name, required=required)
    if value is None:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        raise BadValue(f"{name} '{value}' is not a date (YYYY-MM-DD)") from None


def amount_of(el: etree._Element, ns: str, name: str, *, required: bool = True) -> int | None:
    value = text(el, ns, name, required=required)
    return None if value is None else oere(value)


def d(el: etree._Element, name: str, *, required: bool = True) -> str | None:
    """Text of a child in the shared business namespace."""
    return text(el, DEBITOR_NS, name, required=required)


def response_element(ns: str, operation: str, k: Kvittering) -> etree._Element:
    """``<Op>Response`` with its Forretningskvittering first."""
    el = etree.Element(f"{{{ns}}}{operation}Response", nsmap={"r": ns, "d": DEBITOR_NS})
    build_kvittering(el, k)
    return el


_ESCAPE = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"})
_NOT_XML_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_STATUS_END = "</kv:ForretningsValideringsKode>"


@functools.cache
def _answer_frame(ns: str, operation: str) -> tuple[str, str]:
    """The text before the ForretningsValideringsKode and after the Forretningskvittering's content, as
    lxml writes them (built once per operation)."""
    whole = build_envelope(response_element(ns, operation, Kvittering("STATUS"))).decode()
    head = whole[: whole.index(">STATUS<") + 1]
    return head, whole[whole.index(_STATUS_END) + len(_STATUS_END) :]


def response_envelope(ns: str, operation: str, k: Kvittering) -> bytes:
    """The whole answer, byte for byte ``build_envelope(response_element(ns, operation, k))``, filled into a
    frame built once instead of building and serialising a tree per answer (the hot path of builtin:ky)."""
    texts = [k.status, k.begrundelse or "", *(str(t) for pair in k.fejl for t in pair)]
    if any(_NOT_XML_TEXT.search(t) for t in texts):  # lxml refuses these: let it say so
        return build_envelope(response_element(ns, operation, k))
    head, tail = _answer_frame(ns, operation)
    parts = [head, k.status.translate(_ESCAPE), _STATUS_END]
    if k.begrundelse not in (None, ""):
        parts += ["<kv:Begrundelse>", str(k.begrundelse).translate(_ESCAPE), "</kv:Begrundelse>"]
    if k.fejl:
        parts.append("<kv:FejlListe>")
        for code, message in k.fejl:
            parts += ["<kv:Fejl><kv:FejlKode>", str(code).translate(_ESCAPE), "</kv:FejlKode><kv:FejlTekst>"]
            parts += [str(message).translate(_ESCAPE), "</kv:FejlTekst></kv:Fejl>"]
        parts.append("</kv:FejlListe>")
    parts.append(tail)
    return "".join(parts).encode()
