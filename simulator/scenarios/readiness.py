"""The SA 05 Debitor readiness check (docs/scenarios.md, ../shared DOMAIN §1).

Items 1a–1e run as the built-in scenario ``readiness.yaml`` against the municipality's debtor system
(fresh ids per run, every call validated strictly), and the debtor system's answers, coverages, write-offs
and messages are reconciled with KY's ledger (``readiness_ledger``); item 2 checks the service agreements
the evidence used, both the debtor system's and KY's receiving side; item 3 checks that the debtor
system's sortiment subscription has acknowledged the current version. Every item has a verdict, evidence
and, when it fails, each difference (field, expected, actual, exchange), the debtor's FejlKode/FejlTekst
and how to fix it.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from simulator.capabilities import BeskedTypes, KyActions, SortimentDelivery
from simulator.scenarios import model
from simulator.scenarios import xmlmatch as xm
from simulator.scenarios.engine import Progress, ScenarioRun
from simulator.scenarios.readiness_hints import RETURN_SERVICE, difference_fix, step_hint
from simulator.scenarios.readiness_ledger import Found, LedgerChecks
from simulator.scenarios.reconcile import receipt_errors
from simulator.scenarios.results import RunResult

if TYPE_CHECKING:
    from simulator.runtime import Runtime

READINESS_SCENARIO = Path(__file__).with_name("readiness.yaml")
MESSAGE_TYPES = ("DebitorkontoStatusskift", "FordringTilIndbetaling")
VALIDATION = "strict"  # every call of a readiness run, whatever routes/services.yaml says
EVIDENCE_WINDOW_DAYS = 30.0  # default: write-offs (1d) booked this long ago still count

ITEMS: dict[str, str] = {
    "1a": "receives debtor registrations from KY (SF1590_B_01)",
    "1b": "receives queries from KY (SF1590_B_02)",
    "1c": "receives payments from KY (SF1590_B_03)",
    "1d": "sends coverages and write-offs to KY",
    "1e": "sends debtor account status changes / claims open for payment to Beskedfordeleren",
    "2": "has service agreements for 1d and 1e, and the calls were accepted under them",
    "3": "has received KY's debtor sortiment from Klassifikation (current version acknowledged)",
}


@dataclass
class Item:
    id: str
    title: str
    verdict: str = "fail"  # pass | fail | skipped (needs an item that failed)
    summary: str = ""
    evidence: list[dict[str, Any]] = field(default_factory=list)
    missing: str | None = None
    fix: str | None = None
    steps: list[dict[str, Any]] = field(default_factory=list)
    differences: list[dict[str, Any]] = field(default_factory=list)  # field, expected, actual, source
    fejl: list[dict[str, str]] = field(default_factory=list)  # the debtor's (or KY's) FejlKode/FejlTekst
    links: list[str] = field(default_factory=list)  # the exchanges the evidence names (/ui/traffic/<id>)

    @property
    def passed(self) -> bool:
        return self.verdict == "pass"

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class ReadinessReport:
    municipality: str
    municipality_name: str
    debtor_system: str | None
    started_at: str
    finished_at: str | None = None
    items: list[Item] = field(default_factory=list)
    run: RunResult | None = None
    state: str = "running"
    validation: str = VALIDATION
    evidence_window: str | None = None

    @property
    def verdict(self) -> str:
        if self.state == "running":
            return "running"
        return "pass" if self.items and all(i.passed for i in self.items) else "fail"

    @property
    def passed(self) -> bool:
        return self.verdict == "pass"

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": "readiness",
            "checklist": "SA 05 Debitor",
            "municipality": self.municipality,
            "municipality_name": self.municipality_name,
            "debtor_system": self.debtor_system,
            "session": self.run.session if self.run else None,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "state": self.state,
            "verdict": self.verdict,
            "validation": self.validation,
            "evidence_window": self.evidence_window,
            "items": [i.as_dict() for i in self.items],
            "run": self.run.as_dict() if self.run else None,
        }


def _fejl_text(fejl: list[dict[str, str]]) -> str:
    return "; ".join(
        f"FejlKode {f['FejlKode']}: {f['FejlTekst']}" for f in fejl if f.get("FejlKode") or f.get("FejlTekst")
    )


# -- the check ----------------------------------------------------------------------------------------


class Readiness:
    def __init__(
        self,
        rt: Runtime,
        municipality: str,
        *,
        target: str | None = None,
        within_s: float | None = None,
        evidence_window_days: float | None = EVIDENCE_WINDOW_DAYS,
        on_progress: Progress | None = None,
    ) -> None:
        m = rt.routes.municipalities.get(municipality)
        if m is None:
            raise ValueError(f"unknown municipality {municipality} (routes/municipalities.yaml)")
        self.rt = rt
        self.cvr = municipality
        self.system = m.debtor_system
        self.within_s = within_s
        self.window_days = evidence_window_days
        self.on_progress = on_progress
        scenario = model.load(READINESS_SCENARIO)
        if within_s is not None:
            for s in scenario.steps:
                for kind in (s.receive, s.receive_message):
                    if kind is not None:
                        kind.within_s = within_s
        self.runner = ScenarioRun(
            rt, scenario, municipality=municipality, target=target, on_progress=on_progress, validation=VALIDATION
        )
        self.report = ReadinessReport(
            municipality=municipality,
            municipality_name=m.name,
            debtor_system=self.system,
            started_at=datetime.now(UTC).isoformat(),
            run=self.runner.result,
        )

    async def execute(self) -> ReadinessReport:
        run = await self.runner.execute()
        checks = LedgerChecks(self.rt, self.runner, self.system, self.within_s or 30.0, self.window_days)
        self.report.evidence_window = (
            f"write-offs booked since {checks.window_start.isoformat(timespec='seconds')} "
            f"({self.window_days:g} days) or in this run"
            if checks.window_start
            else "this run only"
        )
        messages = await checks.messages()  # first: a status message that contradicts the ledger is not held against 1b
        found = {"1b": await checks.queries(), "1e": messages}
        # a field that differed before the payment (1b) is 1b's, not also 1c's
        found["1c"] = await checks.payment(known={d.field for d in found["1b"].differences})
        if checks.passed("pay"):  # without KY's payment there is nothing to cover (1d is skipped below)
            found["1d"] = await checks.returns()
        for item_id in ("1a", "1b", "1c", "1d", "1e"):
            self.report.items.append(await self._scenario_item(item_id, run, found.get(item_id)))
        await self._claim_types(self.report.items[0])
        pay = next((s for s in run.steps if s.id == "pay"), None)
        d = self.report.items[3]
        if pay is not None and not pay.passed:
            d.verdict, d.differences, d.fejl = "skipped", [], []
            d.summary = f"not checked: KY's payment ({pay.label}) did not pass"
            d.missing, d.fix = d.summary, "make item 1c pass first, then run the check again"
        self.report.items.append(self._agreements(run, checks))
        self.report.items.append(await self._sortiment())
        for it in self.report.items:
            it.links = sorted({f"/ui/traffic/{e}" for e in _exchange_ids(it)})
        self.report.state = "finished"
        self.report.finished_at = datetime.now(UTC).isoformat()
        if self.on_progress:
            self.on_progress({"event": "readiness", "verdict": self.report.verdict})
        return self.report

    async def _scenario_item(self, item_id: str, run: RunResult, found: Found | None) -> Item:
        steps = [s for s in run.steps if s.item == item_id]
        item = Item(item_id, ITEMS[item_id], steps=[s.as_dict() for s in steps])
        for s in steps:
            item.evidence.extend(s.exchanges)
        if found is not None:
            item.evidence.extend(found.evidence)
            item.differences = [d.as_dict() for d in found.differences]
            item.fejl = list(found.fejl)
        failed = next((s for s in steps if not s.passed), None)
        if failed is not None and failed.verdict != "skipped":
            row = await self.rt.exchanges.get(failed.exchanges[-1]["id"]) if failed.exchanges else None
            item.fejl = receipt_errors(xm.payload_of(row.get("response_body"))) if row else item.fejl
            item.missing, item.fix = step_hint(item_id, failed, self.cvr, self.system)
            item.summary = f"{failed.label}: {failed.verdict} — {failed.message or ''}".rstrip(" —")
            if found is not None and found.differences:
                item.missing += "; " + "; ".join(str(d) for d in found.differences[:8])
        elif found is not None and found.differences:
            diffs = found.differences
            item.missing = "; ".join(str(d) for d in diffs[:8]) + (
                f" (and {len(diffs) - 8} more)" if len(diffs) > 8 else ""
            )
            item.fix = difference_fix(item_id, self.cvr, self.system, self.report.evidence_window or "")
            item.summary = str(diffs[0]) + (f" (+{len(diffs) - 1} more)" if len(diffs) > 1 else "")
        elif failed is not None:  # skipped: an item it needs failed
            item.verdict = "skipped"
            item.missing, item.fix = step_hint(item_id, failed, self.cvr, self.system)
            item.summary = f"not checked: {failed.message}"
            return item
        elif not steps and found is None:
            item.missing, item.fix = "the check has no step for this item", "report this as a simulator bug"
        else:
            item.verdict = "pass"
            parts = [f"{s.label}: passed" for s in steps] + (found.notes if found else [])
            if found is not None and found.evidence and item_id in ("1b", "1c", "1e"):
                parts.append("agrees with KY's ledger")
            item.summary = "; ".join(parts)
            return item
        if item.fejl:
            item.summary += f" [{_fejl_text(item.fejl)}]"
            item.fix = f"{item.fix} (the receipt says: {_fejl_text(item.fejl)})"
        return item

    async def _claim_types(self, item: Item) -> None:
        """Which claim types of KY's sortiment the run's claims carried (1a evidence and summary)."""
        ledger = self.rt.find(KyActions)
        account = self.runner.vars.get("account")
        if ledger is None or not account:
            return
        try:
            claims = (await ledger.account(account))["claims"]
        except Exception:  # noqa: BLE001 - KY refused to store it: the item's steps say why
            return
        delivery = self.rt.find(SortimentDelivery)
        known = delivery.claim_types(self.cvr) if delivery is not None else None
        named = []
        for uid in sorted({c["fordringstype"] for c in claims}):
            t = known.find(uid) if known is not None else None
            named.append(f"{t.brugervendt_noegle} ({uid})" if t else uid)
        item.evidence.append({"fordringstyper": named, "sortiment": known.basis if known else None})
        if item.passed:
            item.summary += f"; claim types from KY's sortiment: {', '.join(named)}"
        elif item.fejl and known is not None:
            item.fix = (
                f"{item.fix}; KY's claims carried claim types of its sortiment ({', '.join(named)}; {known.basis}): "
                "a debtor system accepts every claim type of the sortiment version it acknowledged (item 3)"
            )

    def _agreements(self, run: RunResult, checks: LedgerChecks) -> Item:
        item = Item("2", ITEMS["2"])
        routes = self.rt.routes
        types = self.rt.find(BeskedTypes)
        problems: list[str] = []
        fixes: list[str] = []
        unexercised: list[str] = []
        if self.system is None:
            item.missing = f"municipality {self.cvr} names no debtor system (routes/municipalities.yaml)"
            item.fix = f"set debtor_system for {self.cvr} in routes/municipalities.yaml"
            return item
        ret = routes.agreements_for(self.system, self.cvr, RETURN_SERVICE)
        item.evidence.append({"agreement": RETURN_SERVICE, "uuids": [a.uuid for a in ret]})
        if not ret:
            problems.append(f"no active agreement for {self.system} × {self.cvr} × {RETURN_SERVICE}")
            fixes.append(
                f"add to routes/agreements.yaml: `- uuid: <new uuid>`, `system: {self.system}`, "
                f'`municipality: "{self.cvr}"`, `service: {RETURN_SERVICE}` (or PUT /api/agreements)'
            )
        send = routes.agreements_for(self.system, self.cvr, "BeskedAfsend")
        for name in MESSAGE_TYPES:
            uid = types.beskedtype_uuid(name) if types is not None else None
            covering = [
                a.uuid
                for a in send
                if {(types.beskedtype_uuid(t) if types else None) or t for t in (a.beskedtyper or [])}
                & {uid, name, "*"}
            ]
            item.evidence.append({"agreement": f"BeskedAfsend {name}", "beskedtype": uid, "uuids": covering})
            if not covering:
                problems.append(f"no active BeskedAfsend agreement for {self.system} × {self.cvr} × {name}")
                fixes.append(
                    f"add a BeskedAfsend agreement for system {self.system}, municipality {self.cvr} with "
                    f"beskedtyper [{uid or name}] to routes/agreements.yaml"
                )
            # KY's receiving side: a message nobody may receive is answered 20 and reaches nobody
            why = checks.ky_receiver(name)
            item.evidence.append({"agreement": f"BeskedModtag {name} (KY)", "beskedtype": uid, "ok": why is None})
            if why is not None:
                problems.append(f"{name}: {why}")
                fixes.append(
                    f"add a BeskedModtag agreement for KY's system, municipality {self.cvr}, beskedtyper "
                    f"[{uid or name}] to routes/agreements.yaml (or PUT /api/agreements)"
                )
        known = {a.uuid: a for a in routes.agreements.values()}
        ret_uuids, send_uuids = {a.uuid for a in ret}, {a.uuid for a in send}
        for step in run.steps:
            for ex in step.exchanges:
                under = ex.get("agreement_uuid")
                item.evidence.append({"exchange": ex["id"], "item": step.item, "agreement_uuid": under})
                if under is not None and (under not in known or not known[under].active):
                    problems.append(f"the exchange {ex['id']} used agreement {under}, which is not an active agreement")
                if step.id == "coverage" and under not in ret_uuids:
                    problems.append(
                        f"the coverage call {ex['id']} was made under agreement {under or 'none'}, not under "
                        f"{', '.join(sorted(ret_uuids)) or f'an agreement for {RETURN_SERVICE}'}"
                    )
                if step.item == "1e" and (under not in send_uuids or ex.get("status") != "ok"):
                    problems.append(
                        f"the message {ex['id']} was not accepted under a BeskedAfsend agreement "
                        f"({ex.get('reason') or under or 'no agreement'})"
                    )
        for it, service in (("1c", "coverage"), ("1e", "message")):
            if not any(s.exchanges for s in run.steps if s.item == it and s.kind in ("receive", "receive_message")):
                unexercised.append(f"no {service} was seen, so its agreement was not exercised (see item {it})")
        if problems:
            item.missing = "; ".join(problems + unexercised)
            item.fix = "; ".join(fixes) if fixes else "see the evidence"
            item.summary = problems[0]
        elif unexercised:
            item.verdict = "skipped"
            item.missing = "; ".join(unexercised)
            item.fix = "make the items named pass, then run the check again"
            item.summary = "not checked: " + unexercised[0]
        else:
            item.verdict = "pass"
            item.summary = "agreements active, KY receives both message types, and the evidence used them"
        return item

    async def _sortiment(self) -> Item:
        item = Item("3", ITEMS["3"])
        k = self.rt.find(SortimentDelivery)
        current = k.current_version() if k is not None else None
        if k is None or current is None:
            item.missing = "Klassifikation is not running" + (f": {k.disabled_reason}" if k else "")
            item.fix = "enable the klassifikation component (SIMULATOR_COMPONENTS) and its sortiment"
            return item
        sub_id = f"{self.cvr}:{self.system}"
        sub = k.subscription(sub_id)
        if sub is None:
            item.missing = f"the debtor system {self.system} of {self.cvr} has no subscription to the sortiment"
            item.fix = (
                f'add `- municipality: "{self.cvr}"` / `system: {self.system}` to '
                "routes/sortiment_subscriptions.yaml, or PUT "
                f"/api/klassifikation/subscriptions/{self.cvr}/{self.system}"
            )
            return item
        deadline = time.monotonic() + (self.within_s if self.within_s is not None else 30.0)
        k.wake(sub_id)
        while (sub.acknowledged_version or 0) < current and time.monotonic() < deadline:
            if sub.failures and sub.next_attempt_at is not None:
                break  # it failed and waits for a retry: report what is wrong now
            await asyncio.sleep(0.05)  # the deliverer works in its own task; poll its state until the deadline
        deliveries = await k.deliveries(subscription=sub_id, limit=5)
        item.evidence.append(sub.as_dict(current))
        item.evidence.extend({"delivery": d} for d in deliveries)
        if (sub.acknowledged_version or 0) >= current:
            item.verdict = "pass"
            item.summary = f"version {sub.acknowledged_version} acknowledged (current {current})"
            return item
        item.missing = (
            f"the debtor system has acknowledged version {sub.acknowledged_version or 'none'}, the current is {current}"
            + (f"; last error: {sub.last_error}" if sub.last_error else "")
        )
        item.fix = (
            f"make the debtor system accept SortimentModtag deliveries (docs/contracts/sortiment.md); check the "
            f"SortimentModtag route for {self.cvr} and the system's receipts, then POST "
            f"/api/klassifikation/subscriptions/{self.cvr}/{self.system}/retry"
        )
        return item


async def run_readiness(rt: Runtime, municipality: str, **kw: Any) -> ReadinessReport:
    return await Readiness(rt, municipality, **kw).execute()


def _exchange_ids(item: Item) -> set[str]:
    """The recorded exchanges (calls and messages) an item's evidence and differences name."""
    ids = {e.get("id") or e.get("exchange") or e.get("besked") for e in item.evidence if isinstance(e, dict)}
    ids |= {d.get("source") for d in item.differences}
    return {i for i in ids if isinstance(i, str) and i}
