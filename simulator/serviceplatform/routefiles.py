"""Reading and checking the route files in `routes/` (YAML), with file and line for every problem."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from simulator.soap.context import CVR_RE, UUID_RE

FILES = ("services.yaml", "systems.yaml", "municipalities.yaml", "routes.yaml", "agreements.yaml")
DIRECTIONS = ("ky-to-debtor", "debtor-to-ky", "klassifikation", "beskedfordeler", "other")
_PATH_RE = re.compile(r"^/service/[A-Za-z0-9]+/[A-Za-z0-9]+/[0-9]+$")
_ENV_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def expand_env(text: str) -> str:
    """`${NAME}` and `${NAME:-default}` in a route target replaced by the environment variable, so a
    provider's address is set once (e.g. `${SIMULATOR_DEBTOR_URL:-http://127.0.0.1:8001}/…`). Raises
    KeyError naming a variable that is unset and has no default."""

    def one(m: re.Match) -> str:
        value = os.environ.get(m.group(1)) or m.group(2)
        if value is None:
            raise KeyError(m.group(1))
        return value

    return _ENV_RE.sub(one, text)


@dataclass(frozen=True)
class Problem:
    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


class RouteFileError(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class _LineLoader(yaml.SafeLoader):
    """A safe loader that remembers the line of every mapping as key ``__line__``."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> dict:
    mapping = loader.construct_mapping(node, deep=True)
    mapping["__line__"] = node.start_mark.line + 1
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


@dataclass(frozen=True)
class ServiceDef:
    name: str
    area: str
    version: int
    uuid: str
    path: str
    direction: str
    integration: str | None = None
    entity_id: str | None = None
    contract: str | None = None
    official_contract: str | None = None  # folder with the official WSDL/XSD
    validation: str = "off"  # off | lenient | strict
    description: str = ""
    transport: str = "soap"  # soap | amqp


@dataclass(frozen=True)
class SystemDef:
    key: str
    name: str
    uuid: str
    kind: str  # ky | debtor | klassifikation | other
    certificate: str | None = None  # fingerprint or subject (security model)
    vendor: str | None = None


@dataclass(frozen=True)
class MunicipalityDef:
    cvr: str
    name: str
    debtor_system: str | None = None


@dataclass
class RouteDef:
    service: str
    municipality: str  # CVR, or "*" for every municipality without its own route
    target: str  # "builtin:<handler>" or a provider URL
    fault: dict | None = None
    origin: str = "file"
    position: int = 0

    @property
    def id(self) -> str:
        return f"{self.service}:{self.municipality}"


@dataclass
class AgreementDef:
    uuid: str
    system: str  # system key
    municipality: str
    service: str
    beskedtyper: list[str] | None = None
    active: bool = True
    origin: str = "file"


@dataclass
class RouteFiles:
    services: list[ServiceDef] = field(default_factory=list)
    systems: list[SystemDef] = field(default_factory=list)
    municipalities: list[MunicipalityDef] = field(default_factory=list)
    routes: list[RouteDef] = field(default_factory=list)
    agreements: list[AgreementDef] = field(default_factory=list)


class _Reader:
    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.problems: list[Problem] = []

    def load(self, name: str, key: str) -> list[dict]:
        path = self.dir / name
        if not path.exists():
            self.problems.append(Problem(name, 0, f"file is missing from {self.dir}"))
            return []
        try:
            doc = yaml.load(path.read_text(encoding="utf-8"), Loader=_LineLoader) or {}
        except yaml.YAMLError as e:
            line = getattr(getattr(e, "problem_mark", None), "line", -1) + 1
            self.problems.append(Problem(name, line, f"not valid YAML: {getattr(e, 'problem', e)}"))
            return []
        if not isinstance(doc, dict) or not isinstance(doc.get(key, []), list):
            self.problems.append(Problem(name, 1, f"expected a mapping with a list under '{key}'"))
            return []
        items = []
        for item in doc.get(key) or []:
            if not isinstance(item, dict):
                self.problems.append(Problem(name, 1, f"every entry under '{key}' must be a mapping"))
                continue
            items.append(item)
        return items

    def need(self, name: str, item: dict, *keys: str) -> bool:
        ok = True
        for k in keys:
            if item.get(k) in (None, ""):
                self.problems.append(Problem(name, item["__line__"], f"'{k}' is required"))
                ok = False
        return ok

    def bad(self, name: str, item: dict, message: str) -> None:
        self.problems.append(Problem(name, item["__line__"], message))


def read_route_files(directory: Path, *, known_contracts: set[str] | None = None) -> RouteFiles:
    """Read and cross-check the five route files; raise RouteFileError listing every problem."""
    r = _Reader(Path(directory))
    out = RouteFiles()

    seen: set[str] = set()
    for it in r.load("services.yaml", "services"):
        if not r.need("services.yaml", it, "name", "area", "uuid", "direction"):
            continue
        name, area, version = str(it["name"]), str(it["area"]), int(it.get("version", 1))
        path = it.get("path") or f"/service/{area}/{name}/{version}"
        if name in seen:
            r.bad("services.yaml", it, f"service '{name}' is defined twice")
        seen.add(name)
        if not UUID_RE.match(str(it["uuid"])):
            r.bad("services.yaml", it, f"uuid '{it['uuid']}' is not a lower-case UUID")
        if it["direction"] not in DIRECTIONS:
            r.bad("services.yaml", it, f"direction must be one of {', '.join(DIRECTIONS)}")
        transport = it.get("transport", "soap")
        if transport == "soap" and not _PATH_RE.match(path):
            r.bad("services.yaml", it, f"path '{path}' must look like /service/<Area>/<Service>/<version>")
        contract = it.get("contract")
        official = it.get("official_contract")
        # a service with a contract is validated strictly unless the file says otherwise (never laxer than
        # the platform); lenient/off are for a user's own experiments
        validation = it.get("validation", "strict" if official or contract else "off")
        validation = "off" if validation is False else validation  # YAML 1.1 reads a bare off as false
        if validation not in ("off", "lenient", "strict"):
            r.bad("services.yaml", it, "validation must be off, lenient or strict")
        if official and not (r.dir / official).is_dir() and not Path(official).is_dir():
            r.bad("services.yaml", it, f"official_contract folder '{official}' does not exist")
        if contract and known_contracts is not None and contract not in known_contracts:
            r.bad(
                "services.yaml",
                it,
                f"unknown contract '{contract}' (known: {', '.join(sorted(known_contracts))})",
            )
        out.services.append(
            ServiceDef(
                name=name,
                area=area,
                version=version,
                uuid=str(it["uuid"]),
                path=path,
                direction=it["direction"],
                integration=it.get("integration"),
                entity_id=it.get("entity_id"),
                contract=contract,
                official_contract=str((r.dir / official).resolve()) if official else None,
                validation=validation,
                description=it.get("description", ""),
                transport=transport,
            )
        )
    services = {s.name for s in out.services}

    keys: set[str] = set()
    for it in r.load("systems.yaml", "systems"):
        if not r.need("systems.yaml", it, "key", "name", "uuid", "kind"):
            continue
        if it["key"] in keys:
            r.bad("systems.yaml", it, f"system key '{it['key']}' is defined twice")
        keys.add(it["key"])
        if not UUID_RE.match(str(it["uuid"])):
            r.bad("systems.yaml", it, f"uuid '{it['uuid']}' is not a lower-case UUID")
        out.systems.append(
            SystemDef(
                key=str(it["key"]),
                name=str(it["name"]),
                uuid=str(it["uuid"]),
                kind=str(it["kind"]),
                certificate=it.get("certificate"),
                vendor=it.get("vendor"),
            )
        )

    cvrs: set[str] = set()
    for it in r.load("municipalities.yaml", "municipalities"):
        if not r.need("municipalities.yaml", it, "cvr", "name"):
            continue
        cvr = str(it["cvr"])
        if not CVR_RE.match(cvr):
            r.bad("municipalities.yaml", it, f"cvr '{cvr}' must be 8 digits (quote it in YAML)")
        if cvr in cvrs:
            r.bad("municipalities.yaml", it, f"municipality {cvr} is defined twice")
        cvrs.add(cvr)
        if it.get("debtor_system") and it["debtor_system"] not in keys:
            r.bad("municipalities.yaml", it, f"unknown debtor_system '{it['debtor_system']}'")
        out.municipalities.append(MunicipalityDef(cvr=cvr, name=str(it["name"]), debtor_system=it.get("debtor_system")))

    route_ids: set[str] = set()
    for pos, it in enumerate(r.load("routes.yaml", "routes")):
        if not r.need("routes.yaml", it, "service", "municipality", "target"):
            continue
        try:
            target = expand_env(str(it["target"]))
        except KeyError as e:
            r.bad("routes.yaml", it, f"target names ${{{e.args[0]}}}, which is not set and has no :-default")
            continue
        route = RouteDef(
            service=str(it["service"]),
            municipality=str(it["municipality"]),
            target=target,
            fault=it.get("fault"),
            position=pos,
        )
        problem = check_route(route, services, cvrs)
        if problem:
            r.bad("routes.yaml", it, problem)
        if route.id in route_ids:
            r.bad("routes.yaml", it, f"a route for {route.service} × {route.municipality} is defined twice")
        route_ids.add(route.id)
        out.routes.append(route)

    uuids: set[str] = set()
    for it in r.load("agreements.yaml", "agreements"):
        if not r.need("agreements.yaml", it, "uuid", "system", "municipality", "service"):
            continue
        ag = AgreementDef(
            uuid=str(it["uuid"]),
            system=str(it["system"]),
            municipality=str(it["municipality"]),
            service=str(it["service"]),
            beskedtyper=it.get("beskedtyper"),
            active=bool(it.get("active", True)),
        )
        problem = check_agreement(ag, services, keys, cvrs)
        if problem:
            r.bad("agreements.yaml", it, problem)
        if ag.uuid in uuids:
            r.bad("agreements.yaml", it, f"agreement {ag.uuid} is defined twice")
        uuids.add(ag.uuid)
        out.agreements.append(ag)

    if r.problems:
        raise RouteFileError(r.problems)
    return out


def check_route(route: RouteDef, services: set[str], cvrs: set[str]) -> str | None:
    """What is wrong with a route, or None (shared by the file check and the admin API)."""
    if route.service not in services:
        return f"unknown service '{route.service}'"
    if route.municipality != "*" and route.municipality not in cvrs:
        return f"unknown municipality '{route.municipality}' (or '*' for all)"
    t = route.target
    if not (t.startswith("builtin:") or t.startswith("http://") or t.startswith("https://")):
        return f"target '{t}' must be builtin:<handler> or an http(s):// URL"
    if route.fault is not None:
        return check_fault(route.fault)
    return None


FAULT_KEYS = {"delay_ms", "soap_fault", "http_status", "drop_connection"}


def check_fault(fault: Any) -> str | None:
    if not isinstance(fault, dict):
        return "fault must be a mapping"
    unknown = set(fault) - FAULT_KEYS - {"__line__"}
    if unknown:
        return f"unknown fault setting(s) {', '.join(sorted(unknown))}; use {', '.join(sorted(FAULT_KEYS))}"
    if "delay_ms" in fault and (not isinstance(fault["delay_ms"], int) or fault["delay_ms"] < 0):
        return "fault.delay_ms must be a non-negative integer"
    if "http_status" in fault and fault["http_status"] not in range(400, 600):
        return "fault.http_status must be 4xx or 5xx"
    return None


def check_agreement(ag: AgreementDef, services: set[str], systems: set[str], cvrs: set[str]) -> str | None:
    if not UUID_RE.match(ag.uuid):
        return f"uuid '{ag.uuid}' is not a lower-case UUID"
    if ag.service not in services:
        return f"unknown service '{ag.service}'"
    if ag.system not in systems:
        return f"unknown system '{ag.system}'"
    if ag.municipality not in cvrs:
        return f"unknown municipality '{ag.municipality}'"
    return None
