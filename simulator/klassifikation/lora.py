"""The LoRa object structure of SF1510 Klassifikation (Klasse, Facet, Klassifikation), built with lxml.

Element order and namespaces follow the official schemas (`urn:oio:sts:klassifikation:*:1.1.3.0` and
`urn:oio:sagdok:3.0.0`); tests validate what is built here against them. Mapping of our data:

- Egenskab: Virkning (the Klasse's from/to), BrugervendtNoegleTekst, BeskrivelseTekst, TitelTekst,
  AendringsnotatTekst (why the last version changed it).
- TilstandListe: PubliceretStatus ``true`` over the Klasse's Virkning; after a retirement a second
  PubliceretStatus ``false`` from the end of Virkning on.
- RelationListe: Ejer (the Klassifikation's owner), Facet, OverordnetKlasse (the parent).
- Registrering: one per sortiment version that changed the object; Tidspunkt = that version's time.
"""

from __future__ import annotations

from datetime import datetime

from lxml import etree

from simulator.klassifikation.sortiment import Info, Klasse, SortimentVersion

SD = "urn:oio:sagdok:3.0.0"
KLASSE = "urn:oio:sts:klassifikation:klasse:1.1.3.0"
FACET = "urn:oio:sts:klassifikation:facet:1.1.3.0"
KLASSIFIKATION = "urn:oio:sts:klassifikation:klassifikation:1.1.3.0"
NSMAP = {"sd": SD, "klasse": KLASSE, "facet": FACET, "klasfik": KLASSIFIKATION}

STATUS_OK = 20  # StandardRetur/StatusKode: done
STATUS_BAD_INPUT = 40
STATUS_NOT_FOUND = 44


def _sd(parent: etree._Element, name: str, text: str | None = None) -> etree._Element:
    el = etree.SubElement(parent, f"{{{SD}}}{name}")
    if text is not None:
        el.text = text
    return el


def tidspunkt(parent: etree._Element, name: str, when: datetime | None) -> None:
    """sd:TidspunktType: a time stamp, or GraenseIndikator=true for an open end."""
    el = _sd(parent, name)
    if when is None:
        _sd(el, "GraenseIndikator", "true")
    else:
        _sd(el, "TidsstempelDatoTid", when.isoformat())


def virkning(
    parent: etree._Element,
    fra: datetime | None,
    til: datetime | None,
    *,
    aktoer: str | None = None,
    note: str | None = None,
) -> None:
    v = _sd(parent, "Virkning")
    tidspunkt(v, "FraTidspunkt", fra)
    tidspunkt(v, "TilTidspunkt", til)
    if aktoer:
        _sd(_sd(v, "AktoerRef"), "UUIDIdentifikator", aktoer)
        _sd(v, "AktoerTypeKode", "Organisation")
    if note:
        _sd(v, "NoteTekst", note[:1024])


def _relation(
    parent: etree._Element,
    name: str,
    target: str,
    fra: datetime,
    til: datetime | None,
    *,
    aktoer_type: str | None = None,
) -> None:
    rel = _sd(parent, name)
    virkning(rel, fra, til)
    _sd(_sd(rel, "ReferenceID"), "UUIDIdentifikator", target)
    if aktoer_type:
        _sd(rel, "AktoerTypeKode", aktoer_type)


def standard_retur(parent: etree._Element, status: int = STATUS_OK, fejl: str | None = None) -> None:
    sr = _sd(parent, "StandardRetur")
    _sd(sr, "StatusKode", str(status))
    if fejl:
        _sd(sr, "FejlbeskedTekst", fejl)


def _registrering_head(reg: etree._Element, v: SortimentVersion) -> None:
    note = f"{v.sortiment.brugervendt_noegle} version {v.version}" + (f": {v.note}" if v.note else "")
    _sd(reg, "NoteTekst", note[:1024])
    _sd(reg, "Tidspunkt", v.tidspunkt.isoformat())
    _sd(reg, "LivscyklusKode", "Importeret")


def klasse_registrering(parent: etree._Element, k: Klasse, v: SortimentVersion, *, full: bool = True) -> None:
    """One klasse:Registrering of Klasse `k` as version `v` recorded it (`full=False`: lists left empty,
    for a Virkning filter that does not overlap the Klasse)."""
    reg = etree.SubElement(parent, f"{{{KLASSE}}}Registrering")
    _registrering_head(reg, v)
    attrs = etree.SubElement(reg, f"{{{KLASSE}}}AttributListe")
    tilstande = etree.SubElement(reg, f"{{{KLASSE}}}TilstandListe")
    relationer = etree.SubElement(reg, f"{{{KLASSE}}}RelationListe")
    if not full:
        return
    eg = etree.SubElement(attrs, f"{{{KLASSE}}}Egenskab")
    virkning(eg, k.virkning_fra, k.virkning_til, aktoer=v.klassifikation.ejer)
    _sd(eg, "BrugervendtNoegleTekst", k.brugervendt_noegle)
    if k.beskrivelse:
        _sd(eg, "BeskrivelseTekst", k.beskrivelse)
    _sd(eg, "TitelTekst", k.titel)
    if k.aendringsnotat:
        _sd(eg, "AendringsnotatTekst", k.aendringsnotat)
    _published(tilstande, f"{{{KLASSE}}}PubliceretStatus", k.virkning_fra, k.virkning_til)
    if v.klassifikation.ejer:
        _relation(relationer, "Ejer", v.klassifikation.ejer, k.virkning_fra, k.virkning_til, aktoer_type="Organisation")
    _relation(relationer, "Facet", k.facet, k.virkning_fra, k.virkning_til)
    if k.overordnet:
        _relation(relationer, "OverordnetKlasse", k.overordnet, k.virkning_fra, k.virkning_til)


def _published(parent: etree._Element, tag: str, fra: datetime, til: datetime | None) -> None:
    ps = etree.SubElement(parent, tag)
    virkning(ps, fra, til)
    _sd(ps, "ErPubliceretIndikator", "true")
    if til is not None:
        ps = etree.SubElement(parent, tag)
        virkning(ps, til, None)
        _sd(ps, "ErPubliceretIndikator", "false")


def klasse_element(k: Klasse, history: list[SortimentVersion]) -> etree._Element:
    """klasse:Klasse (UUIDIdentifikator, Registrering+), as carried in a sortiment delivery."""
    el = etree.Element(f"{{{KLASSE}}}Klasse", nsmap=NSMAP)
    _sd(el, "UUIDIdentifikator", k.uuid)
    for v in history:
        klasse_registrering(el, v.klasser[k.uuid], v)
    return el


def facet_registrering(parent: etree._Element, f: Info, v: SortimentVersion, fra: datetime) -> None:
    reg = etree.SubElement(parent, f"{{{FACET}}}Registrering")
    _registrering_head(reg, v)
    attrs = etree.SubElement(reg, f"{{{FACET}}}AttributListe")
    eg = etree.SubElement(attrs, f"{{{FACET}}}Egenskab")
    virkning(eg, fra, None, aktoer=v.klassifikation.ejer)
    _sd(eg, "BrugervendtNoegleTekst", f.brugervendt_noegle)
    _sd(eg, "TitelTekst", f.titel)
    if f.beskrivelse:
        _sd(eg, "BeskrivelseTekst", f.beskrivelse)
    _published(etree.SubElement(reg, f"{{{FACET}}}TilstandListe"), f"{{{FACET}}}PubliceretStatus", fra, None)
    relationer = etree.SubElement(reg, f"{{{FACET}}}RelationListe")
    if v.klassifikation.ejer:
        _relation(relationer, "Ejer", v.klassifikation.ejer, fra, None, aktoer_type="Organisation")
    _relation(relationer, "FacetTilhoerer", v.klassifikation.uuid, fra, None)


def facet_element(f: Info, v: SortimentVersion, fra: datetime) -> etree._Element:
    el = etree.Element(f"{{{FACET}}}Facet", nsmap=NSMAP)
    _sd(el, "UUIDIdentifikator", f.uuid)
    facet_registrering(el, f, v, fra)
    return el


def klassifikation_registrering(parent: etree._Element, c: Info, v: SortimentVersion, fra: datetime) -> None:
    reg = etree.SubElement(parent, f"{{{KLASSIFIKATION}}}Registrering")
    _registrering_head(reg, v)
    attrs = etree.SubElement(reg, f"{{{KLASSIFIKATION}}}AttributListe")
    eg = etree.SubElement(attrs, f"{{{KLASSIFIKATION}}}Egenskab")
    virkning(eg, fra, None, aktoer=c.ejer)
    _sd(eg, "BrugervendtNoegleTekst", c.brugervendt_noegle)
    _sd(eg, "TitelTekst", c.titel)
    if c.beskrivelse:
        _sd(eg, "BeskrivelseTekst", c.beskrivelse)
    _published(
        etree.SubElement(reg, f"{{{KLASSIFIKATION}}}TilstandListe"), f"{{{KLASSIFIKATION}}}PubliceretStatus", fra, None
    )
    relationer = etree.SubElement(reg, f"{{{KLASSIFIKATION}}}RelationListe")
    if c.ejer:
        _relation(relationer, "Ejer", c.ejer, fra, None, aktoer_type="Organisation")


def klassifikation_element(c: Info, v: SortimentVersion, fra: datetime) -> etree._Element:
    el = etree.Element(f"{{{KLASSIFIKATION}}}Klassifikation", nsmap=NSMAP)
    _sd(el, "UUIDIdentifikator", c.uuid)
    klassifikation_registrering(el, c, v, fra)
    return el
