"""The SF2900 receipt (``Forretningskvittering``): one model for every answer that carries one.

KY's SF1590 services answer with ``kv:Forretningskvittering`` (ns ``KVITTERING``: ``ForretningsValideringsKode``,
``Begrundelse?``, ``FejlListe?/Fejl+(FejlKode, FejlTekst)``); the sortiment receiver answers with the same
fields inside its own ``Kvittering`` element (``Forretningskvittering`` holding the code, plus the version it
holds). Both are read into and written from :class:`Kvittering`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from simulator.soap.ns import KVITTERING

STATUSES = ("MODTAGET", "AFLEVERET", "ACCEPTERET", "AFVIST", "FEJLET")
ACCEPTED = ("ACCEPTERET", "MODTAGET", "AFLEVERET")


@dataclass
class Kvittering:
    """A business receipt: the status (one of `STATUSES`), why, and the receiver's error list."""

    status: str
    begrundelse: str | None = None
    fejl: list[tuple[str, str]] = field(default_factory=list)

    @property
    def accepted(self) -> bool:
        return self.status in ACCEPTED

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "begrundelse": self.begrundelse,
            "fejl": [{"kode": k, "tekst": t} for k, t in self.fejl],
        }

    def describe(self) -> str:
        """One line: the status, the reason and each ``FejlKode: FejlTekst``."""
        parts = [self.status]
        if self.begrundelse:
            parts.append(self.begrundelse)
        parts += [f"{code}: {text}" for code, text in self.fejl]
        return "; ".join(parts)


def _text(el: etree._Element, ns: str, name: str) -> str | None:
    found = el.find(f"{{{ns}}}{name}")
    value = (found.text or "").strip() if found is not None else ""
    return value or None


def read_fields(
    el: etree._Element, ns: str = KVITTERING, status_element: str = "ForretningsValideringsKode"
) -> Kvittering:
    """The receipt fields of ``el`` (children in namespace ``ns``); a missing status reads as FEJLET."""
    fejl = [
        (_text(f, ns, "FejlKode") or "", _text(f, ns, "FejlTekst") or "")
        for f in el.iterfind(f"{{{ns}}}FejlListe/{{{ns}}}Fejl")
    ]
    return Kvittering(_text(el, ns, status_element) or "FEJLET", _text(el, ns, "Begrundelse"), fejl)


def read_kvittering(payload: etree._Element) -> Kvittering:
    """The ``Forretningskvittering`` of an SF1590 response element."""
    el = payload.find(f"{{{KVITTERING}}}Forretningskvittering")
    if el is None:
        return Kvittering("FEJLET", "the answer carries no Forretningskvittering")
    return read_fields(el)


def write_fields(
    el: etree._Element, k: Kvittering, ns: str = KVITTERING, status_element: str = "ForretningsValideringsKode"
) -> etree._Element:
    """Append the receipt fields (status, Begrundelse?, FejlListe?) to ``el``."""

    def sub(parent: etree._Element, name: str, text: str | None = None) -> etree._Element:
        child = etree.SubElement(parent, f"{{{ns}}}{name}")
        child.text = text
        return child

    sub(el, status_element, k.status)
    if k.begrundelse:
        sub(el, "Begrundelse", k.begrundelse)
    if k.fejl:
        fl = sub(el, "FejlListe")
        for code, message in k.fejl:
            f = sub(fl, "Fejl")
            sub(f, "FejlKode", code)
            sub(f, "FejlTekst", message)
    return el


def build_kvittering(parent: etree._Element, k: Kvittering) -> etree._Element:
    """``kv:Forretningskvittering`` appended to an SF1590 response element."""
    el = etree.SubElement(parent, f"{{{KVITTERING}}}Forretningskvittering", nsmap={"kv": KVITTERING})
    return write_fields(el, k)
