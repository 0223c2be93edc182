"""Beskedtyper, dueslag and abonnementer (subscriptions) as data: `messages/beskedtyper.yaml` and
`messages/abonnementer.yaml`, checked with file and line for every problem."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml
from lxml import etree

from simulator.serviceplatform.routefiles import Problem, RouteFileError, _LineLoader

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
FILTER_KEYS = ("afsender", "tilladt_modtager", "objekttype", "objekthandling", "opgaveemne", "vaerdiliste")
LEVERING = ("pull", "push")


@dataclass(frozen=True)
class Beskedtype:
    name: str
    uuid: str
    namespace: str | None = None
    schema: Path | None = None
    description: str = ""

    @cached_property
    def xmlschema(self) -> etree.XMLSchema | None:
        if self.schema is None:
            return None
        return etree.XMLSchema(etree.parse(str(self.schema)))


@dataclass
class Dueslag:
    uuid: str
    system: str  # system key of the subscriber
    levering: str = "pull"  # pull | push
    callback: str | None = None  # push: an http(s) URL, or builtin:ky
    navn: str = ""
    pause_s: float | None = None  # push: first pause after StatusKode 40 (doubles up to 300 s); default 5
    origin: str = "file"

    def out(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Abonnement:
    uuid: str
    dueslag: str
    beskedtyper: list[str]  # UUIDs (names are resolved on load)
    filtre: dict[str, list[str]] = field(default_factory=dict)
    navn: str = ""
    origin: str = "file"

    def out(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Subscriptions:
    """The dueslag and abonnementer in force (the files', and those made through the admin API), and the push
    dueslag whose delivery stopped (dueslag → why). One object, shared by every part of the Beskedfordeler."""

    dueslag: dict[str, Dueslag] = field(default_factory=dict)
    abonnementer: dict[str, Abonnement] = field(default_factory=dict)
    stopped: dict[str, str] = field(default_factory=dict)


@dataclass
class MessagesConfig:
    beskedtyper: dict[str, Beskedtype]  # by uuid
    dueslag: dict[str, Dueslag]
    abonnementer: dict[str, Abonnement]

    def beskedtype_uuid(self, name_or_uuid: str) -> str | None:
        """A beskedtype UUID from its UUID or its name (e.g. DebitorkontoStatusskift)."""
        value = str(name_or_uuid).strip()
        if value.lower() in self.beskedtyper:
            return value.lower()
        for bt in self.beskedtyper.values():
            if bt.name == value:
                return bt.uuid
        return value.lower() if UUID_RE.match(value.lower()) else None

    def by_name(self, name: str) -> Beskedtype:
        for bt in self.beskedtyper.values():
            if bt.name == name:
                return bt
        raise KeyError(name)


def _load(path: Path, key: str, problems: list[Problem]) -> list[dict]:
    if not path.exists():
        return []
    try:
        doc = yaml.load(path.read_text(encoding="utf-8"), Loader=_LineLoader) or {}
    except yaml.YAMLError as e:
        problems.append(
            Problem(path.name, getattr(getattr(e, "problem_mark", None), "line", -1) + 1, f"not valid YAML: {e}")
        )
        return []
    items = doc.get(key) or []
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        problems.append(Problem(path.name, 1, f"expected a list of mappings under '{key}'"))
        return []
    return items


def check_dueslag(d: Dueslag, systems: set[str] | None) -> str | None:
    if not UUID_RE.match(d.uuid):
        return f"dueslag uuid '{d.uuid}' is not a lower-case UUID"
    if systems is not None and d.system not in systems:
        return f"unknown system '{d.system}'"
    if d.levering not in LEVERING:
        return "levering must be pull or push"
    if d.levering == "push":
        cb = d.callback or ""
        if not (cb.startswith("http://") or cb.startswith("https://") or cb.startswith("builtin:")):
            return "a push dueslag needs callback: an http(s):// URL or builtin:ky"
    return None


def check_abonnement(a: Abonnement, dueslag: set[str]) -> str | None:
    if not UUID_RE.match(a.uuid):
        return f"abonnement uuid '{a.uuid}' is not a lower-case UUID"
    if a.dueslag not in dueslag:
        return f"unknown dueslag '{a.dueslag}'"
    if not a.beskedtyper:
        return "beskedtyper must list at least one beskedtype (UUID or name)"
    for bt in a.beskedtyper:
        if not UUID_RE.match(bt):
            return f"unknown beskedtype '{bt}' (a UUID, or a name from beskedtyper.yaml)"
    unknown = set(a.filtre) - set(FILTER_KEYS)
    if unknown:
        return f"unknown filter(s) {', '.join(sorted(unknown))}; use {', '.join(FILTER_KEYS)}"
    for key, values in a.filtre.items():
        if not isinstance(values, list) or not values:
            return f"filter '{key}' must be a non-empty list"
    return None


def _filters(raw: Any) -> dict[str, list[str]]:
    if not isinstance(raw, dict):
        return {}
    return {
        str(key): [str(v) for v in (val if isinstance(val, list) else [val])]
        for key, val in raw.items()
        if key != "__line__"
    }


def read_messages_config(directory: Path, *, systems: set[str] | None = None) -> MessagesConfig:
    """Read beskedtyper.yaml and abonnementer.yaml; raise RouteFileError listing every problem."""
    directory = Path(directory)
    problems: list[Problem] = []
    types: dict[str, Beskedtype] = {}
    for it in _load(directory / "beskedtyper.yaml", "beskedtyper", problems):
        uuid, name = str(it.get("uuid", "")).lower(), str(it.get("name", ""))
        if not name or not UUID_RE.match(uuid):
            problems.append(Problem("beskedtyper.yaml", it["__line__"], "every beskedtype needs name and a UUID"))
            continue
        schema = None
        if it.get("schema"):
            schema = (directory / str(it["schema"])).resolve()
            if not schema.exists():
                problems.append(Problem("beskedtyper.yaml", it["__line__"], f"schema '{it['schema']}' does not exist"))
                schema = None
        types[uuid] = Beskedtype(
            name=name,
            uuid=uuid,
            namespace=it.get("namespace"),
            schema=schema,
            description=str(it.get("description", "")),
        )
    cfg = MessagesConfig(beskedtyper=types, dueslag={}, abonnementer={})
    path = directory / "abonnementer.yaml"
    for it in _load(path, "dueslag", problems):
        d = Dueslag(
            uuid=str(it.get("uuid", "")),
            system=str(it.get("system", "")),
            levering=str(it.get("levering", "pull")),
            callback=it.get("callback"),
            navn=str(it.get("navn", "")),
            pause_s=float(it["pause_s"]) if it.get("pause_s") is not None else None,
        )
        if (problem := check_dueslag(d, systems)) or d.uuid in cfg.dueslag:
            problems.append(Problem(path.name, it["__line__"], problem or f"dueslag {d.uuid} is defined twice"))
            continue
        cfg.dueslag[d.uuid] = d
    for it in _load(path, "abonnementer", problems):
        raw_types = it.get("beskedtyper") or ([it["beskedtype"]] if it.get("beskedtype") else [])
        a = Abonnement(
            uuid=str(it.get("uuid", "")),
            dueslag=str(it.get("dueslag", "")),
            beskedtyper=[cfg.beskedtype_uuid(t) or str(t) for t in raw_types],
            filtre=_filters(it.get("filtre")),
            navn=str(it.get("navn", "")),
        )
        if (problem := check_abonnement(a, set(cfg.dueslag))) or a.uuid in cfg.abonnementer:
            problems.append(Problem(path.name, it["__line__"], problem or f"abonnement {a.uuid} is defined twice"))
            continue
        cfg.abonnementer[a.uuid] = a
    if problems:
        raise RouteFileError(problems)
    return cfg
