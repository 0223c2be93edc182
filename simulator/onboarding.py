"""Onboarding a municipality: the routes, service agreements and sortiment subscription it needs, written
into the route files (`routes/`), which stay the source of truth (docs/onboarding.md).

What a municipality needs, per readiness item (checklist SA 05 Debitor): KY calls its debtor system (1a–1c:
a route to the debtor system and KY's agreement), the debtor system calls KY back (1d) and publishes both
debtor message types (1e, and KY's agreement to receive them), and Klassifikation delivers KY's sortiment
to it, which it may read (3). The new entries are appended to each file's list (comments and layout of the
rest stay as they are); nothing is written unless the whole route table, with them, passes the same check
as `simulator routes check`.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from simulator.serviceplatform.routefiles import RouteFileError, RouteFiles, expand_env, read_route_files
from simulator.soap.context import CVR_RE

SUBSCRIPTIONS_FILE = "sortiment_subscriptions.yaml"
MESSAGE_TYPES = ("DebitorkontoStatusskift", "FordringTilIndbetaling")


@dataclass(frozen=True)
class Need:
    """One service the municipality needs: who calls it, where it is routed, and why."""

    service: str
    caller: str  # ky | debtor | klassifikation: the system that calls (or sends/receives) under the agreement
    route: str | None  # "debtor" (the debtor system's URL), "builtin:<handler>", or None (no SOAP route)
    item: str
    beskedtyper: bool = False


NEEDS: tuple[Need, ...] = (
    Need("DebitorRegistreringAfsend", "ky", "debtor", "1a: KY sends debtor registrations"),
    Need("DebitorForespoergselAfsend", "ky", "debtor", "1b: KY queries debtor accounts"),
    Need("DebitorIndbetalingAfsend", "ky", "debtor", "1c: KY pays on claims"),
    Need("DaekningAfskrivningRegistreringAfsend", "debtor", "builtin:ky", "1d: coverages and write-offs to KY"),
    Need("BeskedAfsend", "debtor", None, "1e: the debtor system sends both message types", beskedtyper=True),
    Need("BeskedModtag", "ky", None, "1e: KY receives both message types", beskedtyper=True),
    Need("SortimentModtag", "klassifikation", "debtor", "3: Klassifikation delivers KY's sortiment"),
    Need("Klasse", "debtor", "builtin:klassifikation", "3: the debtor system reads the sortiment"),
    Need("Facet", "debtor", "builtin:klassifikation", "3: the debtor system reads the sortiment"),
    Need("Klassifikation", "debtor", "builtin:klassifikation", "3: the debtor system reads the sortiment"),
)


class OnboardingError(ValueError):
    """A municipality that cannot be added as asked; the message says why and what to do."""


@dataclass
class Onboarding:
    """What `add_municipality` writes (or would write) for one municipality."""

    cvr: str
    name: str
    system: str
    debtor_url: str
    routes: list[dict[str, str]] = field(default_factory=list)
    agreements: list[dict[str, Any]] = field(default_factory=list)
    subscription: dict[str, str] | None = None
    skipped: list[str] = field(default_factory=list)  # needs whose service is not in services.yaml
    files: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def route_target(debtor_url: str, service_path: str, service: str) -> str:
    """A route target at the debtor system: `{path}`/`{service}` in the URL are filled in, else the service's
    path is appended (`http://host:8001/44444444` → `…/44444444/service/OIR/DebitorRegistreringAfsend/1`)."""
    if "{path}" in debtor_url or "{service}" in debtor_url:
        return debtor_url.replace("{path}", service_path).replace("{service}", service)
    return debtor_url.rstrip("/") + service_path


def _beskedtyper(messages_dir: Path | None) -> list[str]:
    """The UUIDs of the two debtor message types from messages/beskedtyper.yaml (their names otherwise, which
    agreements may also use)."""
    path = messages_dir / "beskedtyper.yaml" if messages_dir else None
    found: dict[str, str] = {}
    if path is not None and path.is_file():
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        found = {str(b.get("name")): str(b.get("uuid")) for b in doc.get("beskedtyper") or [] if isinstance(b, dict)}
    return [found.get(name, name) for name in MESSAGE_TYPES]


def plan(
    files: RouteFiles,
    *,
    cvr: str,
    name: str,
    system: str,
    debtor_url: str,
    messages_dir: Path | None = None,
    subscriptions: list[dict[str, Any]] | None = None,
) -> Onboarding:
    """What the municipality needs, given the route table as it is; raises OnboardingError."""
    if not CVR_RE.match(cvr or ""):
        raise OnboardingError(f"--cvr '{cvr}' is not a CVR number: give the municipality's 8 digits")
    if not name.strip():
        raise OnboardingError("--name must not be empty")
    existing = next((m for m in files.municipalities if m.cvr == cvr), None)
    if existing is not None:
        raise OnboardingError(
            f"municipality {cvr} ({existing.name}) is already in municipalities.yaml; edit its entries there "
            "instead of adding it again"
        )
    systems = {s.key: s for s in files.systems}
    debtors = sorted(k for k, s in systems.items() if s.kind == "debtor")
    if system not in systems:
        raise OnboardingError(
            f"unknown system '{system}': the debtor systems in systems.yaml are {', '.join(debtors) or 'none'}; "
            "add yours there first (key, name, uuid, kind: debtor)"
        )
    if systems[system].kind != "debtor":
        raise OnboardingError(
            f"system '{system}' is a {systems[system].kind} system; a municipality's debtor system has kind: debtor "
            f"({', '.join(debtors) or 'none in systems.yaml'})"
        )
    role_system = {"debtor": system}
    for role in ("ky", "klassifikation"):
        key = next((k for k, s in systems.items() if s.kind == role), None)
        if key is not None:
            role_system[role] = key
    out = Onboarding(cvr=cvr, name=name.strip(), system=system, debtor_url=debtor_url)
    services = {s.name: s for s in files.services}
    star = {r.service for r in files.routes if r.municipality == "*"}
    types = _beskedtyper(messages_dir)
    for need in NEEDS:
        svc = services.get(need.service)
        if svc is None:
            out.skipped.append(f"{need.service} ({need.item}): not in services.yaml")
            continue
        caller = role_system.get(need.caller)
        if caller is None:
            raise OnboardingError(f"systems.yaml has no system of kind {need.caller}, which calls {need.service}")
        if need.route == "debtor":
            target = route_target(debtor_url, svc.path, svc.name)
            try:
                expanded = expand_env(target)
            except KeyError as e:
                raise OnboardingError(
                    f"--debtor-url names ${{{e.args[0]}}}, which is not set and has no :-default"
                ) from None
            if not expanded.startswith(("http://", "https://")):
                raise OnboardingError(f"--debtor-url '{debtor_url}' must be an http(s):// URL")
            out.routes.append({"service": svc.name, "municipality": cvr, "target": target})
        elif need.route is not None and need.service not in star:
            out.routes.append({"service": svc.name, "municipality": cvr, "target": need.route})
        ag: dict[str, Any] = {"uuid": str(uuid.uuid4()), "system": caller, "municipality": cvr, "service": svc.name}
        if need.beskedtyper:
            ag["beskedtyper"] = types
        out.agreements.append(ag)
    subs = subscriptions or []
    if not any(str(s.get("municipality")) == cvr and s.get("system") == system for s in subs):
        out.subscription = {"municipality": cvr, "system": system}
    return out


# -- writing ----------------------------------------------------------------------------------------------


def _scalar(value: Any) -> str:
    """A YAML scalar that reads back as the same string (CVR numbers and odd text quoted)."""
    text = str(value)
    if isinstance(value, str) and yaml.safe_load(f"k: {text}") == {"k": text} and not CVR_RE.match(text):
        return text
    return json.dumps(text, ensure_ascii=False)


def _entry(item: dict[str, Any], dash: int) -> str:
    lines = []
    for i, (k, v) in enumerate(item.items()):
        prefix = " " * dash + "- " if i == 0 else " " * (dash + 2)
        value = "[" + ", ".join(_scalar(x) for x in v) + "]" if isinstance(v, list) else _scalar(v)
        lines.append(f"{prefix}{k}: {value}\n")
    return "".join(lines)


def append_entries(text: str, key: str, items: list[dict[str, Any]], comment: str) -> str:
    """`text` (a route file) with `items` appended to its top-level list `key`, in the list's own layout;
    the rest of the file (comments, order) unchanged. Raises OnboardingError when the file is not shaped so."""
    if not items:
        return text
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    doc = yaml.compose(text)
    node = None
    if doc is not None:
        if not isinstance(doc, yaml.MappingNode):
            raise OnboardingError(f"expected a mapping with a list under '{key}'")
        node = next(((k, v) for k, v in doc.value if k.value == key), None)
    if node is None:  # no such list yet: start one at the end
        block = f"{key}:\n" + f"  # {comment}\n" + "".join(_entry(i, 2) for i in items)
        return "".join(lines) + block
    key_node, value = node
    if isinstance(value, yaml.SequenceNode) and value.value and not value.flow_style:
        dash = value.start_mark.column
        end = value.value[-1].end_mark.line  # the line after the last item (trailing comments included) …
        while end > 0 and (not lines[end - 1].strip() or lines[end - 1].lstrip().startswith("#")):
            end -= 1  # … back to the item's own last line
        block = " " * dash + f"# {comment}\n" + "".join(_entry(i, dash) for i in items)
        return "".join(lines[:end]) + block + "".join(lines[end:])
    empty = (isinstance(value, yaml.ScalarNode) and value.value in ("", "~", "null")) or (
        isinstance(value, yaml.SequenceNode) and not value.value
    )
    if empty and value.end_mark.line == key_node.start_mark.line:  # `key:` or `key: []` on one line
        at = key_node.start_mark.line
        block = f"{key}:\n" + f"  # {comment}\n" + "".join(_entry(i, 2) for i in items)
        return "".join(lines[:at]) + block + "".join(lines[at + 1 :])
    raise OnboardingError(f"cannot append to '{key}' (not a block list); add the entries by hand")


def add_municipality(
    directory: Path,
    *,
    cvr: str,
    name: str,
    system: str,
    debtor_url: str,
    messages_dir: Path | None = None,
    known_contracts: set[str] | None = None,
) -> Onboarding:
    """Write the municipality, its routes, agreements and sortiment subscription into the route files in
    `directory`. All or nothing: the files are changed only when the whole table passes the route check
    with the new entries. Raises OnboardingError."""
    directory = Path(directory)
    try:
        files = read_route_files(directory, known_contracts=known_contracts)
    except RouteFileError as e:
        raise OnboardingError(
            f"the route files in {directory} have problems already (simulator routes check):\n{e}"
        ) from None
    sub_path = directory / SUBSCRIPTIONS_FILE
    subs_text = sub_path.read_text(encoding="utf-8") if sub_path.exists() else ""
    subs = (yaml.safe_load(subs_text) or {}).get("subscriptions") or [] if subs_text else []
    out = plan(
        files,
        cvr=cvr,
        name=name,
        system=system,
        debtor_url=debtor_url,
        messages_dir=messages_dir,
        subscriptions=subs if isinstance(subs, list) else [],
    )
    note = f"{out.name} ({cvr}): added by `simulator municipality add`"
    changes = {
        "municipalities.yaml": (
            "municipalities",
            [{"cvr": cvr, "name": out.name, "debtor_system": system}],
        ),
        "routes.yaml": ("routes", out.routes),
        "agreements.yaml": ("agreements", out.agreements),
        SUBSCRIPTIONS_FILE: ("subscriptions", [out.subscription] if out.subscription else []),
    }
    new_text: dict[str, str] = {}
    for file, (key, items) in changes.items():
        path = directory / file
        old = path.read_text(encoding="utf-8") if path.exists() else ""
        try:
            new_text[file] = append_entries(old, key, items, note)
        except (OnboardingError, yaml.YAMLError) as e:
            raise OnboardingError(f"{path}: {e}") from None
    with tempfile.TemporaryDirectory(prefix="onboarding-") as tmp:  # check the result before touching the files
        trial = Path(tmp) / "routes"
        shutil.copytree(directory, trial)
        for file, text in new_text.items():
            (trial / file).write_text(text, encoding="utf-8")
        try:
            read_route_files(trial, known_contracts=known_contracts)
        except RouteFileError as e:
            raise OnboardingError(
                f"the route table would not pass the check with {cvr}; nothing written:\n{e}"
            ) from None
    for file, text in new_text.items():
        path = directory / file
        part = path.with_name(f".{file}.onboarding")
        part.write_text(text, encoding="utf-8")
        os.replace(part, path)
        out.files.append(str(path))
    return out
