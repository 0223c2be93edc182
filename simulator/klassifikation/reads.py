"""The built-in handler `builtin:klassifikation`: SF1510 read operations (laes, list, soeg) on the
sortiment's Klasser, its Facetter and its Klassifikation, answered in the LoRa structure.

Our reading of LoRa semantics (documented in docs/contracts/sortiment.md):
- ``StandardRetur/StatusKode`` 20 = done, 40 = the input cannot be used, 44 = no such object.
- laes/list without a registration filter give the current registration; with
  ``RegistreringFraFilter``/``RegistreringTilFilter`` every registration overlapping that period.
- a Virkning filter that does not overlap an object's Virkning leaves its lists empty.
- soeg matches Egenskab texts (``%`` is a wildcard), relations by UUID, and ``SoegVirkning`` by overlap;
  without ``SoegVirkning`` retired Klasser are found too. ``MaksimalAntalKvantitet`` defaults to 500.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

from lxml import etree

from simulator.klassifikation import lora
from simulator.klassifikation.contract import LORA_OBJECTS
from simulator.klassifikation.lora import SD
from simulator.klassifikation.sortiment import SortimentError, SortimentVersion, parse_time
from simulator.klassifikation.state import SortimentState
from simulator.serviceplatform.types import SoapCall

MAX_RESULTS = 500


class InputError(ValueError):
    """LoRa input we cannot use: answered with StatusKode 40."""


@dataclass
class _Obj:
    """What soeg and the filters need to know about one object in one registration."""

    uuid: str
    bvn: str
    titel: str
    beskrivelse: str
    fra: datetime
    til: datetime | None
    relations: dict[str, str] = field(default_factory=dict)


def make_handler(state: SortimentState):
    async def handle(call: SoapCall) -> etree._Element:
        tns = etree.QName(call.operation.request_element).namespace
        children = [c for c in call.payload if isinstance(c.tag, str)]
        inp = children[call.context.payload_start] if call.context.payload_start < len(children) else None
        op = call.operation.name
        wrapper, out_name = {
            "laes": ("Laes", "LaesOutput"),
            "list": ("List", "ListOutput"),
            "soeg": ("Soeg", "SoegOutput"),
        }[op]
        response = etree.Element(f"{{{tns}}}{wrapper}Response", nsmap={"tns": tns})
        kind = tns.rstrip("/").split("/")[-2]  # …/Klassifikation/<Klasse|Facet|Klassifikation>/5/
        out_ns = LORA_OBJECTS[kind]
        output = etree.SubElement(response, f"{{{out_ns}}}{out_name}", nsmap=lora.NSMAP)
        in_name = out_name.replace("Output", "Input")
        try:
            if inp is None or inp.tag != f"{{{out_ns}}}{in_name}":
                got = inp.tag if inp is not None else "nothing"
                raise InputError(f"{wrapper}Request must carry {{{out_ns}}}{in_name}, not {got}")
            Reader(state, kind).answer(op, inp, output)
        except (InputError, SortimentError) as e:
            for c in list(output):
                output.remove(c)
            lora.standard_retur(output, lora.STATUS_BAD_INPUT, str(e))
        return response

    return handle


def _time(el: etree._Element | None, what: str) -> tuple[bool, datetime | None]:
    """(given, value) of an sd:TidspunktType element; value None = the open end (GraenseIndikator)."""
    if el is None:
        return False, None
    ts = el.findtext(f"{{{SD}}}TidsstempelDatoTid")
    if ts:
        try:
            return True, parse_time(ts.strip(), what)
        except SortimentError as e:
            raise InputError(str(e)) from None
    return True, None


def _overlaps(fra: datetime | None, til: datetime | None, lo: datetime | None, hi: datetime | None) -> bool:
    """[fra, til) overlaps [lo, hi); None = open end."""
    return (hi is None or fra is None or fra < hi) and (til is None or lo is None or lo < til)


def _pattern(text: str) -> re.Pattern:
    return re.compile("^" + ".*".join(re.escape(p) for p in text.split("%")) + "$", re.IGNORECASE | re.DOTALL)


class Reader:
    def __init__(self, state: SortimentState, kind: str) -> None:
        self.state = state
        self.kind = kind
        self.ns = LORA_OBJECTS[kind]
        self.first = state.versions[0]
        self.fra0 = min((k.virkning_fra for k in self.first.klasser.values()), default=self.first.tidspunkt)

    # -- the objects of this kind ------------------------------------------------------------------

    def history(self, uuid: str) -> list[SortimentVersion]:
        if self.kind == "Klasse":
            return self.state.history(uuid)
        current = self.state.current
        known = current.facetter if self.kind == "Facet" else {current.klassifikation.uuid: None}
        return [self.first] if uuid in known else []

    def uuids(self) -> list[str]:
        c = self.state.current
        if self.kind == "Klasse":
            return list(c.klasser)
        return list(c.facetter) if self.kind == "Facet" else [c.klassifikation.uuid]

    def obj(self, uuid: str, v: SortimentVersion) -> _Obj:
        if self.kind == "Klasse":
            k = v.klasser[uuid]
            rel = {"Facet": k.facet} | ({"OverordnetKlasse": k.overordnet} if k.overordnet else {})
            if v.klassifikation.ejer:
                rel["Ejer"] = v.klassifikation.ejer
            return _Obj(k.uuid, k.brugervendt_noegle, k.titel, k.beskrivelse, k.virkning_fra, k.virkning_til, rel)
        info = v.facetter[uuid] if self.kind == "Facet" else v.klassifikation
        rel = {"FacetTilhoerer": v.klassifikation.uuid} if self.kind == "Facet" else {}
        if v.klassifikation.ejer:
            rel["Ejer"] = v.klassifikation.ejer
        return _Obj(info.uuid, info.brugervendt_noegle, info.titel, info.beskrivelse, self.fra0, None, rel)

    def registrering(self, parent: etree._Element, uuid: str, v: SortimentVersion, full: bool) -> None:
        if self.kind == "Klasse":
            lora.klasse_registrering(parent, v.klasser[uuid], v, full=full)
        elif self.kind == "Facet":
            lora.facet_registrering(parent, v.facetter[uuid], v, self.fra0)
        else:
            lora.klassifikation_registrering(parent, v.klassifikation, v, self.fra0)

    # -- operations ---------------------------------------------------------------------------------

    def answer(self, op: str, inp: etree._Element, output: etree._Element) -> None:
        if op == "soeg":
            return self.soeg(inp, output)
        uuids = [(u.text or "").strip().lower() for u in inp.findall(f"{{{SD}}}UUIDIdentifikator")]
        if not uuids:
            raise InputError("UUIDIdentifikator is required")
        filters = {
            name: _time(inp.find(f"{{{SD}}}{name}"), name)
            for name in ("VirkningFraFilter", "VirkningTilFilter", "RegistreringFraFilter", "RegistreringTilFilter")
        }
        found = [u for u in uuids if self.history(u)]
        missing = [u for u in uuids if u not in found]
        if op == "laes" and missing:
            lora.standard_retur(output, lora.STATUS_NOT_FOUND, f"{self.kind} {missing[0]} findes ikke")
            return None
        if op == "list" and not found:
            lora.standard_retur(output, lora.STATUS_NOT_FOUND, f"ingen af de angivne {self.kind}-objekter findes")
            return None
        lora.standard_retur(output)
        for u in found:
            self.snapshot(output, u, filters)
        return None

    def snapshot(self, output: etree._Element, uuid: str, filters: dict[str, tuple[bool, datetime | None]]) -> None:
        fo = etree.SubElement(output, f"{{{self.ns}}}FiltreretOejebliksbillede")
        lora._sd(etree.SubElement(fo, f"{{{self.ns}}}ObjektType"), "UUIDIdentifikator", uuid)
        history = self.history(uuid)
        reg_given = filters["RegistreringFraFilter"][0] or filters["RegistreringTilFilter"][0]
        if reg_given:
            lo, hi = filters["RegistreringFraFilter"][1], filters["RegistreringTilFilter"][1]
            chosen = []
            for i, v in enumerate(history):
                end = history[i + 1].tidspunkt if i + 1 < len(history) else None
                if _overlaps(v.tidspunkt, end, lo, hi):
                    chosen.append(v)
        else:
            chosen = history[-1:]
        vf_given = filters["VirkningFraFilter"][0] or filters["VirkningTilFilter"][0]
        for v in chosen:
            o = self.obj(uuid, v)
            full = not vf_given or _overlaps(
                o.fra, o.til, filters["VirkningFraFilter"][1], filters["VirkningTilFilter"][1]
            )
            self.registrering(fo, uuid, v, full)

    def soeg(self, inp: etree._Element, output: etree._Element) -> None:
        def number(name: str, default: int) -> int:
            text = inp.findtext(f"{{{SD}}}{name}")
            try:
                return int(text) if text and text.strip() else default
            except ValueError:
                raise InputError(f"{name} '{text}' is not an integer") from None

        first = max(number("FoersteResultatReference", 0), 0)
        limit = max(min(number("MaksimalAntalKvantitet", MAX_RESULTS), MAX_RESULTS), 0)
        sv = inp.find(f"{{{SD}}}SoegVirkning")
        sv_given = sv is not None
        lo = _time(sv.find(f"{{{SD}}}FraTidspunkt"), "SoegVirkning/FraTidspunkt")[1] if sv_given else None
        hi = _time(sv.find(f"{{{SD}}}TilTidspunkt"), "SoegVirkning/TilTidspunkt")[1] if sv_given else None
        texts = {}
        for eg in inp.iterfind(f"{{{self.ns}}}AttributListe/{{{self.ns}}}Egenskab"):
            for key, name in (
                ("bvn", "BrugervendtNoegleTekst"),
                ("titel", "TitelTekst"),
                ("beskrivelse", "BeskrivelseTekst"),
            ):
                value = eg.findtext(f"{{{SD}}}{name}")
                if value is not None and value.strip():
                    texts[key] = _pattern(value.strip())
        relations = {}
        rl = inp.find(f"{{{self.ns}}}RelationListe")
        if rl is not None:
            for rel in rl:
                if not isinstance(rel.tag, str) or etree.QName(rel).namespace != SD:
                    continue
                ref = rel.findtext(f"{{{SD}}}ReferenceID/{{{SD}}}UUIDIdentifikator")
                if ref and ref.strip():
                    relations[etree.QName(rel).localname] = ref.strip().lower()
        published = None
        for ps in inp.iterfind(f"{{{self.ns}}}TilstandListe/{{{self.ns}}}PubliceretStatus"):
            value = ps.findtext(f"{{{SD}}}ErPubliceretIndikator")
            if value is not None and value.strip():
                published = value.strip() in ("true", "1")
        current = self.state.current
        now = datetime.now(UTC)
        hits = []
        for uuid in self.uuids():
            o = self.obj(uuid, current)
            if any(not p.match(getattr(o, key) or "") for key, p in texts.items()):
                continue
            if any(o.relations.get(name) != ref for name, ref in relations.items()):
                continue
            if sv_given and not _overlaps(o.fra, o.til, lo, hi):
                continue
            if published is not None and (o.til is None or o.til > now) != published:
                continue
            hits.append(uuid)
        lora.standard_retur(output)
        ids = etree.SubElement(output, f"{{{SD}}}IdListe")
        for uuid in hits[first : first + limit]:
            lora._sd(ids, "UUIDIdentifikator", uuid)
