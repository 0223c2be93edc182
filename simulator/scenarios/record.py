"""Turning recorded exchanges into a scenario file.

KY's calls become ``ky`` steps (their arguments read back from the request), other calls the simulator
made become ``send`` steps, calls from the debtor system become ``receive`` steps and its messages to
the Beskedfordeler ``receive_message`` steps, each with matchers on the leaf values of what was seen.
Every UUID and CPR number that the replayed calls put in (account, claims, payments, …) becomes a
variable with a fresh value per run; ids the debtor system makes up, and timestamps, are volatile (the
matchers only require them to be there). Today's date becomes ``${today}``. Sortiment-bound values (claim
types) stay as recorded; the recorded municipality becomes ``${municipality}`` wherever it appears (MyndighedCVR,
``urn:oio:cvr-nr:…``) and its debtor system ``${debtor_system}``, so a replay works for any municipality.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from lxml import etree

from simulator.capabilities import BeskedTypes
from simulator.scenarios import xmlmatch as xm
from simulator.scenarios.kycalls import ky_args
from simulator.scenarios.model import FORMAT, Scenario, parse
from simulator.security.personal import CPR_RE
from simulator.traffic import ExchangeFilter

if TYPE_CHECKING:
    from simulator.runtime import Runtime

UUID_RE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
DATETIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?$")
NUMBER_RE = re.compile(r"^-?\d+\.\d+$")
CONTEXT = ("CallContext", "AuthorityContext", "InvocationContext")
KY_ORIGINS = ("ky", "scenario")
SKIP_ORIGINS = ("klassifikation",)  # sortiment deliveries belong to item 3, not to a replayable scenario


class RecordError(ValueError):
    pass


def _strip_context(payload: etree._Element) -> etree._Element:
    for child in list(payload):
        if isinstance(child.tag, str) and etree.QName(child).localname in CONTEXT:
            payload.remove(child)
    return payload


def _raw_payload(body: str) -> etree._Element | None:
    """The request element with its namespaces (for ``send`` steps), context elements removed."""
    from simulator.soap.envelope import parse_xml

    try:
        root = parse_xml(body.encode("utf-8"))
    except Exception:  # noqa: BLE001
        return None
    b = root.find(xm.SOAP_BODY)
    if b is None:
        return None
    children = [c for c in b if isinstance(c.tag, str)]
    return _strip_context(children[0]) if children else None


class _Vars:
    """Input values (UUIDs, CPR numbers) → variable names; the recorded municipality → ``${municipality}``."""

    def __init__(self, today: str, municipality: str | None = None) -> None:
        self.names: dict[str, str] = {}
        self.kinds: dict[str, str] = {}
        self.today = today
        self.today_used = False
        self.municipality = municipality
        self.mask_cpr = False  # SIMULATOR_MASK_CPR: no CPR number is written into the scenario as recorded

    def add(self, value: str, hint: str, kind: str) -> None:
        if value in self.names:
            return
        base = re.sub(r"uuid$", "", hint.lower()).strip("_") or kind
        base = re.sub(r"[^a-z0-9_]", "_", base)
        n = 1
        while f"{base}{n}" in self.kinds:
            n += 1
        self.names[value] = f"{base}{n}"
        self.kinds[f"{base}{n}"] = kind

    def text(self, value: str) -> str:
        """A value with every known input replaced by ``${var}`` (and today by ``${today}``)."""
        out = UUID_RE.sub(lambda m: f"${{{self.names[m.group(0)]}}}" if m.group(0) in self.names else m.group(0), value)
        if value in self.names:
            return f"${{{self.names[value]}}}"
        if out == self.today:
            self.today_used = True
            return "${today}"
        if self.municipality:
            if out == self.municipality:
                return "${municipality}"
            out = out.replace(f"cvr-nr:{self.municipality}", "cvr-nr:${municipality}")
        return out

    def xml(self, document: str) -> str:
        """A recorded XML text with the inputs and the municipality (as element text) replaced."""
        out = self.text(document)
        return out.replace(f">{self.municipality}<", ">${municipality}<") if self.municipality else out

    def deep(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {k: self.deep(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.deep(v) for v in value]
        return value


SORTIMENT_BOUND = ("fordringstype", "FordringstypeUUID")
"""Values that name a Klasse of KY's debtor sortiment: kept as recorded (a fresh UUID is no claim type)."""


def _sortiment_bound(body: str | None) -> set[str]:
    """The sortiment-bound values in a recorded body (they identify no object of the run)."""
    doc = xm.payload_of(body)
    return {t for name in SORTIMENT_BOUND[1:] for t in xm.select(doc, f"//{name}")}


def _collect_inputs(v: _Vars, value: Any, hint: str) -> None:
    if isinstance(value, dict):
        for k, x in value.items():
            if k in SORTIMENT_BOUND:
                continue
            key_hint = k
            if k == "uuid":
                key_hint = {"claims": "claim", "subclaims": "subclaim", "liabilities": "liability"}.get(hint, hint)
            _collect_inputs(v, x, key_hint)
    elif isinstance(value, list):
        for x in value:
            _collect_inputs(v, x, hint)
    elif isinstance(value, str):
        if UUID_RE.fullmatch(value):
            v.add(value, hint.removesuffix("_uuid"), "uuid")
        elif hint == "cpr" and re.fullmatch(r"\d{10}", value):
            v.add(value, "cpr", "cpr")
        elif hint == "cvr" and re.fullmatch(r"\d{8}", value):
            v.add(value, "cvr", "cvr")


def _path(el: etree._Element, v: _Vars) -> str:
    parts = []
    node = el
    while node is not None:
        parent = node.getparent()
        name = node.tag
        if parent is not None:
            same = [c for c in parent if c.tag == name]
            if len(same) > 1:
                key = next(
                    (
                        c
                        for c in node
                        if isinstance(c.tag, str)
                        and c.tag.endswith("UUID")
                        and len(c) == 0
                        and (c.text or "").strip() in v.names
                    ),
                    None,
                )
                if key is not None:
                    name += f"[{key.tag}='{v.text(key.text.strip())}']"
                else:
                    name += f"[{same.index(node) + 1}]"
        parts.append(name)
        node = parent
    return "/" + "/".join(reversed(parts))


def leaf_matchers(doc: etree._Element | None, v: _Vars, *, skip: tuple[str, ...] = CONTEXT) -> tuple[list, list, set]:
    """(matchers on variable values, matchers on the other leaves, tags holding timestamps)."""
    ids, others, stamps = [], [], set()
    if doc is None:
        return ids, others, stamps
    for el in doc.iter():
        if not isinstance(el.tag, str) or len(el) or any(a.tag in skip for a in el.iterancestors()) or el.tag in skip:
            continue
        text = (el.text or "").strip()
        if not text:
            continue
        path = _path(el, v)
        if text in v.names:
            ids.append({"path": path, "equals": v.text(text)})
        elif DATETIME_RE.match(text):
            stamps.add(el.tag)
            others.append({"path": path, "exists": True})
        elif UUID_RE.fullmatch(text):
            others.append({"path": path, "exists": True})  # an id the other side made up: volatile
        elif NUMBER_RE.match(text):
            others.append({"path": path, "number": text, "tolerance": 0.005})
        elif v.mask_cpr and CPR_RE.search(text):  # matched by birth date, the last four digits never written
            parts = CPR_RE.split(v.text(text))  # text, (date, hyphen, serial), text, …
            rx = "".join(
                re.escape(p) if i % 4 == 0 else (p + "-?" + r"\d{4}" if i % 4 == 1 else "") for i, p in enumerate(parts)
            )
            others.append({"path": path, "regex": rx})
        elif UUID_RE.search(text):
            replaced = v.text(text)
            parts = re.split(r"(\$\{[a-z0-9_]+\}|" + UUID_RE.pattern + ")", replaced)
            rx = "".join(
                p if p.startswith("${") else ("[0-9a-fA-F-]{36}" if UUID_RE.fullmatch(p or "") else re.escape(p))
                for p in parts
                if p
            )
            others.append({"path": path, "regex": rx})
        else:
            others.append({"path": path, "equals": v.text(text)})
    return ids, others, stamps


async def load_rows(
    rt: Runtime,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    session: str | None = None,
    grace_s: float = 60.0,
) -> list[dict[str, Any]]:
    """The exchanges to turn into steps, oldest first. With a session: its exchanges plus the calls and
    messages from other systems in the same time span that name an id the session's calls put in."""
    store = rt.exchanges
    if session:
        own = await store.rows(ExchangeFilter(session=session))
        if not own:
            raise RecordError(f"no exchanges are tagged with session {session!r}")
        ids = {m.group(0) for r in own for m in UUID_RE.finditer(r["request_body"] or "")}
        for r in own:  # context ids identify systems and calls, claim types the sortiment: not the run's objects
            ctx = r.get("context") or {}
            ids -= {str(x) for x in ctx.values()} | _sortiment_bound(r["request_body"])
        start = min(r["started_at"] for r in own)
        end = until or (max(r["started_at"] for r in own) + timedelta(seconds=grace_s))
        others = await store.rows(ExchangeFilter(since=start, until=end, other_than_session=session))
        related = [
            r
            for r in others
            if r["origin"] not in KY_ORIGINS + SKIP_ORIGINS
            and ids & {m.group(0) for m in UUID_RE.finditer(r["request_body"] or "")}
        ]
        rows = own + related
    else:
        if since is None:
            raise RecordError("give a time window (since/until) or a session")
        window = await store.rows(ExchangeFilter(since=since, until=until))
        rows = [r for r in window if r["origin"] not in SKIP_ORIGINS]
    rows = [r for r in rows if r.get("service")]
    if not rows:
        raise RecordError("no exchanges in that window")
    return sorted(rows, key=lambda r: (_aware(r["started_at"]), r["seq"]))


def _aware(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at


def build_scenario(
    rt: Runtime,
    rows: list[dict[str, Any]],
    *,
    name: str,
    description: str = "",
    municipality: str | None = None,
) -> Scenario:
    """A scenario from recorded exchanges (see the module docstring)."""
    today = _aware(rows[0]["started_at"]).date().isoformat() if rows else date.today().isoformat()
    systems_by_uuid = rt.routes.systems_by_uuid
    catalogue = rt.find(BeskedTypes)
    muni = municipality or next((r["municipality"] for r in rows if r.get("municipality")), None)
    recorded = next((r["municipality"] for r in rows if r.get("municipality")), muni)
    v = _Vars(today, recorded)
    v.mask_cpr = rt.settings.mask_cpr
    recorded_debtor = rt.routes.municipalities[recorded].debtor_system if recorded in rt.routes.municipalities else None

    # pass 1: what the replayed calls put in → variables
    plans: list[tuple[str, dict[str, Any], Any]] = []
    for r in rows:
        req = xm.payload_of(r["request_body"])
        if r["origin"] in KY_ORIGINS and req is not None:
            parsed = ky_args(r["operation"] or "", req) if r["origin"] == "ky" else None
            if parsed is not None:
                _collect_inputs(v, parsed[1], "")
                plans.append(("ky", r, parsed))
                continue
            raw = _raw_payload(r["request_body"])
            if raw is not None:
                for el in raw.iter():
                    if isinstance(el.tag, str) and len(el) == 0 and el.text:
                        t = el.text.strip()
                        if UUID_RE.fullmatch(t) and etree.QName(el).localname not in SORTIMENT_BOUND:
                            v.add(t, etree.QName(el).localname, "uuid")
                        elif etree.QName(el).localname == "CPR" or (v.mask_cpr and CPR_RE.fullmatch(t)):
                            v.add(t, "cpr", "cpr")
                plans.append(("send", r, raw))
            continue
        plans.append(("receive", r, None))

    # pass 2: steps
    steps: list[dict[str, Any]] = []
    stamp_tags: set[str] = set()
    for kind, r, data in plans:
        resp = xm.payload_of(r["response_body"])
        req = xm.payload_of(r["request_body"])
        expect_status = "ok" if r["status"] == "ok" else "fault"
        if kind == "ky":
            action, args = data
            ids, others, stamps = leaf_matchers(resp, v)
            stamp_tags |= stamps
            step = {"ky": {"action": action, "args": v.deep(args)}, "expect": ids + others}
        elif kind == "send":
            system = systems_by_uuid.get((r.get("system_uuid") or "").lower())
            payload = etree.tostring(data, encoding="unicode")
            ids, others, stamps = leaf_matchers(resp, v)
            stamp_tags |= stamps
            step = {
                "send": {
                    "system": (
                        "${debtor_system}"  # the municipality's debtor system, whichever municipality replays
                        if system and system.key == recorded_debtor
                        else system.key
                        if system
                        else r.get("system_uuid") or "?"
                    ),
                    "service": r["service"],
                    "operation": r["operation"],
                    "payload": v.xml(payload),
                },
                "expect": ids + others,
            }
        elif r["service"] == "BeskedAfsend":
            data_el = req.find(".//Beskeddata") if req is not None else None
            ids, others, stamps = leaf_matchers(data_el, v)
            stamp_tags |= stamps
            types = xm.select(req, "//Filtreringsdata/Beskedtype/*")
            bt = catalogue.beskedtyper.get(types[0].lower()) if (catalogue is not None and types) else None
            step = {
                "receive_message": {
                    "beskedtype": bt.name if bt else (types[0] if types else "?"),
                    "within_s": 10,
                    "match": ids[:1],
                },
                "expect_request": ids[1:] + others,
                "expect": [{"path": "//StatusKode", "equals": s} for s in xm.select(resp, "//StatusKode")],
            }
            expect_status = "ok" if r["status"] == "ok" else "refused"
        else:
            ids, others, stamps = leaf_matchers(req, v)
            rids, rothers, rstamps = leaf_matchers(resp, v)
            stamp_tags |= stamps | rstamps
            step = {  # any one id of the run tells its calls apart; the others are checked (with a diff)
                "receive": {
                    "service": r["service"],
                    "operation": r["operation"],
                    "within_s": 10,
                    "match": ids[:1],
                },
                "expect_request": ids[1:] + others,
                "expect": rids + rothers,
            }
        step["title"] = f"{r['service']}/{r['operation']} ({r['origin']}; recorded {r['id']})"
        if expect_status != "ok":
            step["expect_status"] = expect_status
        steps.append(step)

    variables: dict[str, Any] = {n: k for n, k in v.kinds.items()}
    if v.today_used:
        variables["today"] = "date"
    normalise = [{"path": f"//{c}", "action": "ignore"} for c in CONTEXT]
    normalise += [{"path": f"//{tag}", "action": "mask"} for tag in sorted(stamp_tags)]
    doc = {
        "format": FORMAT,
        "name": name,
        "description": description or f"recorded {today} from {len(rows)} exchange(s)",
        "municipality": muni,
        "variables": variables,
        "normalise": normalise,
        "steps": steps,
    }
    return parse(doc, f"recording {name}")


async def record(
    rt: Runtime,
    *,
    name: str,
    description: str = "",
    since: datetime | None = None,
    until: datetime | None = None,
    session: str | None = None,
    municipality: str | None = None,
) -> Scenario:
    rows = await load_rows(rt, since=since, until=until, session=session)
    return build_scenario(rt, rows, name=name, description=description, municipality=municipality)
