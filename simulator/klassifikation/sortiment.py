"""KY's debtor sortiment as data: versions of a hierarchical selection of Klasse objects.

A version is a full snapshot (every Klasse, retired ones included) plus the change set that made
it from the previous version. Version 1 is read whole from `messages/sortiments/<name>/v1.yaml`;
later files and admin edits are change sets: ``tilfoej`` (add), ``ret`` (change), ``udgaa``
(retire: the Klasse's Virkning ends; it never disappears). See docs/contracts/sortiment.md.
"""

from __future__ import annotations

import copy
import re
import uuid as uuidlib
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from simulator.soap.context import UUID_RE

BVN_MAX = 50  # sd:BrugervendtNoegleTekst
TITEL_MAX = 100  # sd:TitelTekst
BESKRIVELSE_MAX = 4096  # sd:BeskrivelseTekst
CHANGEABLE = ("brugervendt_noegle", "titel", "beskrivelse", "overordnet")
HANDLINGER = ("tilfoej", "ret", "udgaa")


FORDRINGSTYPE_FACET = "KY-FORDRINGSTYPE"
"""The Facet whose leaf Klasser are the claim types (FordringstypeUUID) KY registers."""


class SortimentError(ValueError):
    """A sortiment file or edit that cannot be applied; the message says why."""


def parse_time(value: Any, what: str) -> datetime:
    if isinstance(value, datetime):
        dt = value
    else:
        try:
            dt = datetime.fromisoformat(str(value))
        except ValueError:
            raise SortimentError(f"{what} '{value}' is not an ISO 8601 date-time") from None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def _iso(dt: datetime | None) -> str | None:
    return dt.isoformat() if dt else None


@dataclass
class Info:
    """A named LoRa object without hierarchy: the sortiment itself, its Klassifikation, a Facet."""

    uuid: str
    brugervendt_noegle: str
    titel: str
    beskrivelse: str = ""
    ejer: str | None = None


@dataclass
class Klasse:
    uuid: str
    brugervendt_noegle: str
    titel: str
    beskrivelse: str
    facet: str  # Facet UUID
    overordnet: str | None  # parent Klasse UUID
    virkning_fra: datetime
    virkning_til: datetime | None = None  # set when the Klasse is retired (udgået)
    version: int = 1  # the sortiment version that last changed this Klasse
    aendringsnotat: str | None = None

    def in_effect(self, at: datetime) -> bool:
        return self.virkning_fra <= at and (self.virkning_til is None or at < self.virkning_til)

    @property
    def udgaaet(self) -> bool:
        return self.virkning_til is not None

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["virkning_fra"], d["virkning_til"] = _iso(self.virkning_fra), _iso(self.virkning_til)
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Klasse:
        d = dict(d)
        d["virkning_fra"] = parse_time(d["virkning_fra"], "virkning_fra")
        d["virkning_til"] = parse_time(d["virkning_til"], "virkning_til") if d.get("virkning_til") else None
        return cls(**{f.name: d.get(f.name) for f in fields(cls) if f.name in d})


@dataclass
class SortimentVersion:
    sortiment: Info
    version: int
    tidspunkt: datetime
    note: str
    klassifikation: Info
    facetter: dict[str, Info]  # by UUID
    klasser: dict[str, Klasse]  # by UUID, in file order
    aendringer: list[dict[str, Any]] = field(default_factory=list)  # the change set that made this version
    origin: str = "file"  # file | api

    # -- look-ups --------------------------------------------------------------------------------

    def klasse(self, ref: str) -> Klasse:
        """A Klasse by UUID or BrugervendtNoegle."""
        if ref in self.klasser:
            return self.klasser[ref]
        for k in self.klasser.values():
            if k.brugervendt_noegle == ref:
                return k
        raise SortimentError(f"no Klasse '{ref}' in {self.sortiment.brugervendt_noegle} version {self.version}")

    def facet(self, ref: str) -> Info:
        if ref in self.facetter:
            return self.facetter[ref]
        for f in self.facetter.values():
            if f.brugervendt_noegle == ref:
                return f
        known = ", ".join(f.brugervendt_noegle for f in self.facetter.values())
        raise SortimentError(f"no Facet '{ref}' (known: {known})")

    def fordringstyper(self, at: datetime) -> list[Klasse]:
        """The claim types in effect at `at`: the leaves of the Fordringstype Facet, in sortiment order."""
        facet = next((f.uuid for f in self.facetter.values() if f.brugervendt_noegle == FORDRINGSTYPE_FACET), None)
        parents = {k.overordnet for k in self.klasser.values() if k.overordnet}
        return [k for k in self.klasser.values() if k.facet == facet and k.uuid not in parents and k.in_effect(at)]

    def changed_since(self, version: int) -> list[Klasse]:
        """The Klasser added, changed or retired after `version` (what a subscriber at `version` lacks)."""
        return [k for k in self.klasser.values() if k.version > version]

    def children(self, uuid: str) -> list[Klasse]:
        return [k for k in self.klasser.values() if k.overordnet == uuid]

    # -- changes ---------------------------------------------------------------------------------

    def apply(
        self,
        aendringer: list[dict[str, Any]],
        *,
        tidspunkt: datetime | None = None,
        note: str = "",
        origin: str = "api",
    ) -> SortimentVersion:
        """A new version: this one with the change set applied (all or nothing)."""
        if not aendringer:
            raise SortimentError("a new version needs at least one change")
        when = tidspunkt or datetime.now(UTC)
        if when < self.tidspunkt:
            raise SortimentError(f"version {self.version + 1} cannot be older than version {self.version}")
        new = SortimentVersion(
            sortiment=self.sortiment,
            version=self.version + 1,
            tidspunkt=when,
            note=note,
            klassifikation=self.klassifikation,
            facetter=self.facetter,
            klasser={u: replace(k) for u, k in self.klasser.items()},
            aendringer=[],
            origin=origin,
        )
        for i, change in enumerate(aendringer, 1):
            try:
                new.aendringer.append(new._apply_one(change, when))
            except SortimentError as e:
                raise SortimentError(f"change {i}: {e}") from None
        return new

    def _apply_one(self, change: dict[str, Any], when: datetime) -> dict[str, Any]:
        handling = change.get("handling")
        if handling not in HANDLINGER:
            raise SortimentError(f"handling must be one of {', '.join(HANDLINGER)}, not '{handling}'")
        if handling == "tilfoej":
            raw = change.get("klasse")
            if not isinstance(raw, dict):
                raise SortimentError("tilfoej needs 'klasse' with the new Klasse's fields")
            k = self._new_klasse(raw, default_fra=when)
            self.klasser[k.uuid] = k
            return {"handling": "tilfoej", "klasse": k.uuid, "brugervendt_noegle": k.brugervendt_noegle}
        k = self.klasse(str(change.get("klasse", "")))
        if handling == "ret":
            felter = change.get("felter") or {}
            unknown = set(felter) - set(CHANGEABLE)
            if not felter or unknown:
                raise SortimentError(
                    f"ret changes one or more of {', '.join(CHANGEABLE)}"
                    + (f" (not {', '.join(sorted(unknown))})" if unknown else "")
                )
            if k.udgaaet:
                raise SortimentError(f"Klasse {k.brugervendt_noegle} is retired; it cannot be changed")
            before = {f: getattr(k, f) for f in felter}
            for name, value in felter.items():
                if name == "overordnet":
                    value = self._parent(value, k.facet, own=k.uuid)
                elif name == "brugervendt_noegle":
                    value = self._check_bvn(str(value), own=k.uuid)
                else:
                    value = _text(value, name, TITEL_MAX if name == "titel" else BESKRIVELSE_MAX)
                setattr(k, name, value)
            k.version = self.version
            k.aendringsnotat = _opt_text(change.get("aendringsnotat"), 1024)
            return {
                "handling": "ret",
                "klasse": k.uuid,
                "brugervendt_noegle": k.brugervendt_noegle,
                "foer": before,
                "felter": {f: getattr(k, f) for f in felter},
            }
        # udgaa
        if k.udgaaet:
            raise SortimentError(f"Klasse {k.brugervendt_noegle} is already retired (Virkning ends {k.virkning_til})")
        til = parse_time(change["virkning_til"], "virkning_til") if change.get("virkning_til") else when
        if til <= k.virkning_fra:
            raise SortimentError(
                f"virkning_til {til.isoformat()} must be after virkning_fra {k.virkning_fra.isoformat()}"
            )
        active = [c.brugervendt_noegle for c in self.children(k.uuid) if c.virkning_til is None or c.virkning_til > til]
        if active:
            raise SortimentError(
                f"Klasse {k.brugervendt_noegle} still has Klasser in effect under it "
                f"({', '.join(active)}); retire those first"
            )
        k.virkning_til = til
        k.version = self.version
        k.aendringsnotat = _opt_text(change.get("aendringsnotat"), 1024) or f"Udgået pr. {til.date().isoformat()}"
        return {
            "handling": "udgaa",
            "klasse": k.uuid,
            "brugervendt_noegle": k.brugervendt_noegle,
            "virkning_til": til.isoformat(),
        }

    def _new_klasse(self, raw: dict[str, Any], *, default_fra: datetime) -> Klasse:
        unknown = set(raw) - {
            "uuid",
            "brugervendt_noegle",
            "titel",
            "beskrivelse",
            "facet",
            "overordnet",
            "virkning_fra",
            "virkning_til",
        }
        if unknown:
            raise SortimentError(f"unknown Klasse field(s) {', '.join(sorted(unknown))}")
        uuid = str(raw.get("uuid") or uuidlib.uuid4())
        if not UUID_RE.match(uuid):
            raise SortimentError(f"uuid '{uuid}' is not a lower-case UUID")
        if uuid in self.klasser:
            raise SortimentError(f"a Klasse with uuid {uuid} exists already")
        if not raw.get("facet"):
            raise SortimentError("'facet' is required (a Facet's UUID or BrugervendtNoegle)")
        facet = self.facet(str(raw["facet"])).uuid
        fra = parse_time(raw["virkning_fra"], "virkning_fra") if raw.get("virkning_fra") else default_fra
        til = parse_time(raw["virkning_til"], "virkning_til") if raw.get("virkning_til") else None
        if til is not None and til <= fra:
            raise SortimentError("virkning_til must be after virkning_fra")
        return Klasse(
            uuid=uuid,
            brugervendt_noegle=self._check_bvn(str(raw.get("brugervendt_noegle") or ""), own=uuid),
            titel=_text(raw.get("titel"), "titel", TITEL_MAX),
            beskrivelse=_text(raw.get("beskrivelse") or "", "beskrivelse", BESKRIVELSE_MAX, required=False),
            facet=facet,
            overordnet=self._parent(raw.get("overordnet"), facet, own=uuid),
            virkning_fra=fra,
            virkning_til=til,
            version=self.version,
        )

    def _check_bvn(self, bvn: str, *, own: str) -> str:
        bvn = bvn.strip()
        if not bvn or len(bvn) > BVN_MAX:
            raise SortimentError(f"brugervendt_noegle is required and at most {BVN_MAX} characters")
        for k in self.klasser.values():
            if k.brugervendt_noegle == bvn and k.uuid != own:
                raise SortimentError(f"brugervendt_noegle {bvn} is taken by Klasse {k.uuid}")
        return bvn

    def _parent(self, ref: Any, facet: str, *, own: str) -> str | None:
        if ref in (None, ""):
            return None
        parent = self.klasse(str(ref))
        if parent.facet != facet:
            raise SortimentError(f"overordnet {parent.brugervendt_noegle} belongs to another Facet")
        if parent.udgaaet:
            raise SortimentError(f"overordnet {parent.brugervendt_noegle} is retired")
        p: Klasse | None = parent
        while p is not None:  # no cycles
            if p.uuid == own:
                raise SortimentError("overordnet would make the hierarchy a cycle")
            p = self.klasser.get(p.overordnet) if p.overordnet else None
        return parent.uuid

    # -- (de)serialisation -----------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return {
            "sortiment": asdict(self.sortiment),
            "version": self.version,
            "tidspunkt": _iso(self.tidspunkt),
            "note": self.note,
            "klassifikation": asdict(self.klassifikation),
            "facetter": [asdict(f) for f in self.facetter.values()],
            "klasser": [k.to_json() for k in self.klasser.values()],
            "aendringer": self.aendringer,
            "origin": self.origin,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> SortimentVersion:
        return cls(
            sortiment=Info(**d["sortiment"]),
            version=int(d["version"]),
            tidspunkt=parse_time(d["tidspunkt"], "tidspunkt"),
            note=d.get("note") or "",
            klassifikation=Info(**d["klassifikation"]),
            facetter={f["uuid"]: Info(**f) for f in d["facetter"]},
            klasser={k["uuid"]: Klasse.from_json(k) for k in d["klasser"]},
            aendringer=d.get("aendringer") or [],
            origin=d.get("origin") or "file",
        )


def _text(value: Any, name: str, limit: int, *, required: bool = True) -> str:
    text = str(value or "").strip()
    if required and not text:
        raise SortimentError(f"'{name}' is required")
    if len(text) > limit:
        raise SortimentError(f"'{name}' is {len(text)} characters; at most {limit}")
    return text


def _opt_text(value: Any, limit: int) -> str | None:
    return _text(value, "aendringsnotat", limit, required=False) or None if value else None


def _info(raw: Any, what: str) -> Info:
    if not isinstance(raw, dict):
        raise SortimentError(f"'{what}' must be a mapping")
    for key in ("uuid", "brugervendt_noegle", "titel"):
        if not raw.get(key):
            raise SortimentError(f"{what}: '{key}' is required")
    if not UUID_RE.match(str(raw["uuid"])):
        raise SortimentError(f"{what}: uuid '{raw['uuid']}' is not a lower-case UUID")
    return Info(
        uuid=str(raw["uuid"]),
        brugervendt_noegle=str(raw["brugervendt_noegle"]),
        titel=str(raw["titel"]),
        beskrivelse=str(raw.get("beskrivelse") or ""),
        ejer=raw.get("ejer"),
    )


_VERSION_FILE = re.compile(r"^v(\d+)\.ya?ml$")


def load_versions(directory: Path) -> list[SortimentVersion]:
    """Every version in a sortiment folder: v1.yaml whole, v2.yaml … as change sets on the one before."""
    files = sorted(
        ((int(m.group(1)), p) for p in Path(directory).iterdir() if (m := _VERSION_FILE.match(p.name))),
        key=lambda t: t[0],
    )
    if not files:
        raise SortimentError(f"{directory}: no v1.yaml")
    versions: list[SortimentVersion] = []
    for expected, (number, path) in enumerate(files, 1):
        where = f"{path}"
        if number != expected:
            raise SortimentError(f"{where}: expected v{expected}.yaml next (versions count up from 1 without gaps)")
        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as e:
            raise SortimentError(f"{where}: not valid YAML: {e}") from None
        try:
            versions.append(_version_from_doc(doc, number, versions[-1] if versions else None))
        except SortimentError as e:
            raise SortimentError(f"{where}: {e}") from None
    return versions


def _version_from_doc(doc: dict[str, Any], number: int, previous: SortimentVersion | None) -> SortimentVersion:
    head = doc.get("sortiment") or {}
    if int(head.get("version", number)) != number:
        raise SortimentError(f"sortiment.version says {head.get('version')}, the file name says {number}")
    tidspunkt = parse_time(head.get("tidspunkt") or datetime.now(UTC), "sortiment.tidspunkt")
    note = str(head.get("note") or "")
    if previous is not None:
        if "klasser" in doc:
            raise SortimentError("only v1 lists every Klasse; later versions list 'aendringer'")
        return previous.apply(list(doc.get("aendringer") or []), tidspunkt=tidspunkt, note=note, origin="file")
    sortiment = _info(head, "sortiment")
    klassifikation = _info(doc.get("klassifikation"), "klassifikation")
    facetter = {f.uuid: f for f in (_info(f, "facetter[]") for f in doc.get("facetter") or [])}
    if not facetter:
        raise SortimentError("at least one Facet is needed under 'facetter'")
    default_fra = parse_time(doc.get("virkning_fra") or tidspunkt, "virkning_fra")
    v = SortimentVersion(
        sortiment=sortiment,
        version=1,
        tidspunkt=tidspunkt,
        note=note,
        klassifikation=klassifikation,
        facetter=facetter,
        klasser={},
        origin="file",
    )
    for i, raw in enumerate(doc.get("klasser") or [], 1):
        try:
            k = v._new_klasse(copy.deepcopy(raw), default_fra=default_fra)
        except SortimentError as e:
            raise SortimentError(f"klasser[{i}]: {e}") from None
        v.klasser[k.uuid] = k
    v.aendringer = [{"handling": "tilfoej", "klasse": u} for u in v.klasser]
    return v
