"""The SortimentModtag messages: the delivery the simulator sends and the receipt it expects back."""

from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree

from simulator.klassifikation import lora
from simulator.klassifikation.contract import SORTIMENT_MODTAG
from simulator.klassifikation.sortiment import Klasse, SortimentVersion
from simulator.soap.context import InvocationContext, build_context_elements
from simulator.soap.envelope import build_envelope

SM = SORTIMENT_MODTAG
SOAP_ACTION = SM + "SortimentModtag"


def _el(parent: etree._Element, name: str, text: str | None = None) -> etree._Element:
    el = etree.SubElement(parent, f"{{{SM}}}{name}")
    if text is not None:
        el.text = text
    return el


def delivery_envelope(
    *,
    leverance_uuid: str,
    current: SortimentVersion,
    klasser: list[Klasse],
    histories: dict[str, list],
    forrige_version: int | None,
    context: list[etree._Element],
) -> bytes:
    """A SortimentModtagRequest: the context elements, then the sortiment head, its Klassifikation and
    Facetter, and the Klasser (all of them for a full delivery, the changed ones for a change)."""
    req = etree.Element(f"{{{SM}}}SortimentModtagRequest", nsmap={"sm": SM, **lora.NSMAP})
    req.extend(context)
    s = _el(req, "Sortiment")
    _el(s, "SortimentUUID", current.sortiment.uuid)
    _el(s, "BrugervendtNoegle", current.sortiment.brugervendt_noegle)
    _el(s, "Titel", current.sortiment.titel)
    _el(s, "LeveranceUUID", leverance_uuid)
    _el(s, "LeveranceType", "Fuld" if forrige_version is None else "Aendring")
    _el(s, "Version", str(current.version))
    if forrige_version is not None:
        _el(s, "ForrigeVersion", str(forrige_version))
    _el(s, "VersionTidspunkt", current.tidspunkt.isoformat())
    if current.note:
        _el(s, "VersionNote", current.note)
    fra = min((k.virkning_fra for k in current.klasser.values()), default=current.tidspunkt)
    _el(s, "Klassifikation").append(lora.klassifikation_element(current.klassifikation, current, fra))
    facetter = _el(s, "Facetter")
    for f in current.facetter.values():
        facetter.append(lora.facet_element(f, current, fra))
    ks = _el(s, "Klasser")
    for k in klasser:
        ks.append(
            lora.klasse_element(
                k,
                histories[k.uuid]
                if forrige_version is None
                else [v for v in histories[k.uuid] if v.version > forrige_version],
            )
        )
    return build_envelope(req)


def context_elements(
    *, cvr: str, agreement: str, system: str, service: str, user: str, call_id: str
) -> list[etree._Element]:
    return build_context_elements(
        InvocationContext(
            service_agreement_uuid=agreement,
            user_system_uuid=system,
            user_uuid=user,
            service_uuid=service,
            callers_service_call_identifier=call_id,
        ),
        municipality_cvr=cvr,
    )


@dataclass
class Kvittering:
    forretningskvittering: str
    version: int
    leverance_uuid: str | None = None
    begrundelse: str | None = None
    fejl: list[tuple[str, str]] = field(default_factory=list)

    def describe(self) -> str:
        parts = [f"{self.forretningskvittering}, receiver holds version {self.version}"]
        if self.begrundelse:
            parts.append(self.begrundelse)
        parts += [f"{code}: {text}" for code, text in self.fejl]
        return "; ".join(parts)


def parse_kvittering(payload: etree._Element | None) -> Kvittering | None:
    """The receipt in a SortimentModtagResponse, or None if the payload is not one."""
    if payload is None or payload.tag != f"{{{SM}}}SortimentModtagResponse":
        return None
    k = payload.find(f"{{{SM}}}Kvittering")
    if k is None:
        return None
    try:
        version = int(k.findtext(f"{{{SM}}}Version") or "0")
    except ValueError:
        return None
    return Kvittering(
        forretningskvittering=(k.findtext(f"{{{SM}}}Forretningskvittering") or "").strip(),
        version=version,
        leverance_uuid=k.findtext(f"{{{SM}}}LeveranceUUID"),
        begrundelse=k.findtext(f"{{{SM}}}Begrundelse"),
        fejl=[
            (f.findtext(f"{{{SM}}}FejlKode") or "", f.findtext(f"{{{SM}}}FejlTekst") or "")
            for f in k.iterfind(f"{{{SM}}}FejlListe/{{{SM}}}Fejl")
        ],
    )
