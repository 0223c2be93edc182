"""The SortimentModtag messages: the delivery the simulator sends and the receipt it expects back."""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from simulator.klassifikation import lora
from simulator.klassifikation.contract import SORTIMENT_MODTAG
from simulator.klassifikation.sortiment import Klasse, SortimentVersion
from simulator.soap.kvittering import Kvittering, read_fields

SM = SORTIMENT_MODTAG


def _el(parent: etree._Element, name: str, text: str | None = None) -> etree._Element:
    el = etree.SubElement(parent, f"{{{SM}}}{name}")
    if text is not None:
        el.text = text
    return el


def delivery_request(
    *,
    leverance_uuid: str,
    current: SortimentVersion,
    klasser: list[Klasse],
    histories: dict[str, list],
    forrige_version: int | None,
) -> etree._Element:
    """A SortimentModtagRequest (the platform call adds the context elements): the sortiment head, its
    Klassifikation and Facetter, and the Klasser (all of them for a full delivery, the changed ones for a
    change)."""
    req = etree.Element(f"{{{SM}}}SortimentModtagRequest", nsmap={"sm": SM, **lora.NSMAP})
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
    return req


@dataclass
class SortimentKvittering:
    """The receiver's ``Kvittering`` of a delivery: the SF2900 receipt fields and the version it now holds."""

    kvittering: Kvittering
    version: int
    leverance_uuid: str | None = None

    def describe(self) -> str:
        k = self.kvittering
        parts = [f"{k.status}, receiver holds version {self.version}"]
        if k.begrundelse:
            parts.append(k.begrundelse)
        parts += [f"{code}: {text}" for code, text in k.fejl]
        return "; ".join(parts)


def parse_kvittering(payload: etree._Element | None) -> SortimentKvittering | None:
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
    fields = read_fields(k, SM, status_element="Forretningskvittering")
    if k.find(f"{{{SM}}}Forretningskvittering") is None:
        fields.status = ""
    return SortimentKvittering(fields, version, k.findtext(f"{{{SM}}}LeveranceUUID"))
