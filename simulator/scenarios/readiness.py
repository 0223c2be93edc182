"""The SA 05 Debitor readiness check (docs/scenarios.md, ../shared DOMAIN §1).

Items 1a–1e run as the built-in scenario ``readiness.yaml`` against the municipality's debtor system
(fresh ids per run); item 2 checks the debtor system's service agreements and that the calls and
messages of 1d/1e were accepted under them; item 3 checks that the debtor system's sortiment
subscription has acknowledged the current version. Every item has a verdict, evidence and, when it
fails, what was missing and how to fix it.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from simulator.capabilities import BeskedTypes, SortimentDelivery
from simulator.scenarios import model
from simulator.scenarios.engine import Progress, ScenarioRun
from simulator.scenarios.results import RunResult, StepResult

if TYPE_CHECKING:
    from simulator.runtime import Runtime

READINESS_SCENARIO = Path(__file__).with_name("readiness.yaml")
RETURN_SERVICE = "DaekningAfskrivningRegistreringAfsend"
MESSAGE_TYPES = ("DebitorkontoStatusskift", "FordringTilIndbetaling")

ITEMS: dict[str, str] = {
    "1a": "receives debtor registrations from KY (SF1590_B_01)",
    "1b": "receives queries from KY (SF1590_B_02)",
    "1c": "receives payments from KY (SF1590_B_03)",
    "1d": "sends coverages and write-offs to KY",
    "1e": "sends debtor account status changes / claims open for payment to Beskedfordeleren",
    "2": "has service agreements for 1d and 1e, and the calls were accepted under them",
    "3": "has received KY's debtor sortiment from Klassifikation (current version acknowledged)",
}

_SERVICE_OF_ITEM = {
    "1a": "DebitorRegistreringAfsend",
    "1b": "DebitorForespoergselAfsend",
    "1c": "DebitorIndbetalingAfsend",
    "1d": RETURN_SERVICE,
}


@dataclass
class Item:
    id: str
    title: str
    verdict: str = "fail"  # pass | fail
    summary: str = ""
    evidence: list[dict[str, Any]] = field(default_factory=list)
    missing: str | None = None
    fix: str | None = None
    steps: list[dict[str, Any]] = field(default_factory=list)

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
            "items": [i.as_dict() for i in self.items],
            "run": self.run.as_dict() if self.run else None,
        }


# -- hints ---------------------------------------------------------------------------------------------


def _hint(item: str, step: StepResult, cvr: str, system: str | None) -> tuple[str, str]:
    """(what was missing, how to fix it) for a failed step, from its evidence."""
    ex = step.exchanges[-1] if step.exchanges else {}
    code = ex.get("fault_code") or ""
    service = ex.get("service") or _SERVICE_OF_ITEM.get(item, "")
    target = ex.get("route_target") or "?"
    missing = step.message or "the step did not pass"
    if step.verdict == "skipped":
        return missing, "fix the item it depends on first, then run the check again"
    if code == "SP-140":
        return missing, (
            f"register a route for {service} in municipality {cvr} to the debtor system's endpoint: add "
            f'`- service: {service}` / `municipality: "{cvr}"` / `target: <debtor system URL>` to '
            f"routes/routes.yaml, or PUT /api/routes/{service}:{cvr}"
        )
    if code == "SP-141":
        return missing, f"the debtor system at {target} did not answer: start it, or correct the route's URL"
    if code == "SP-142":
        return (
            missing,
            f"the debtor system at {target} answered without a SOAP 1.1 envelope: check its endpoint",
        )
    if code in ("SP-150", "SP-151"):
        return (
            missing,
            f"make the message follow the SF1590 contract (docs/contracts/sf1590.md): {ex.get('reason')}",
        )
    if code.startswith("SP-13"):
        return (
            missing,
            f"fix the service agreement ({ex.get('reason')}): routes/agreements.yaml or PUT /api/agreements",
        )
    if "service agreement" in missing and item in ("1a", "1b", "1c"):
        return missing, (
            f"give KY a service agreement for {service} in municipality {cvr}: routes/agreements.yaml "
            "(system: ky) or PUT /api/agreements"
        )
    if item == "1d":
        if step.exchanges:
            return missing, (
                "KY refused the coverage/write-off (see FejlKode in the receipt): it must name a claim KY "
                "registered, an amount within what is outstanding, and a new DaekningUUID/AfskrivningUUID"
            )
        return missing, (
            f"make the debtor system ({system or 'the municipality debtor system'}) report the coverage of "
            f"KY's payment (RegistrerDaekning) or a write-off (RegistrerAfskrivning) to KY through "
            f"{RETURN_SERVICE}, as system {system} under its service agreement for municipality {cvr}"
        )
    if item == "1e":
        if step.exchanges:
            return missing, (
                f"the Beskedfordeler refused the message ({ex.get('fault_code')}: {ex.get('reason')}); see "
                "docs/beskedfordeler.md for the return codes"
            )
        return missing, (
            "make the debtor system publish a DebitorkontoStatusskift (or FordringTilIndbetaling) "
            "Haendelsesbesked for the account to AFSEND_BESKED_EXCHANGE (or POST /beskedfordeler/afsend) "
            f"with ObjektAnsvarligMyndighed urn:oio:cvr-nr:{cvr}"
        )
    if "AFVIST" in missing or "ForretningsValideringsKode" in missing:
        return missing, (
            f"the debtor system answered {ex.get('operation')} without ACCEPTERET: see the receipt's "
            "FejlListe in the evidence and fix the debtor system's handling of it"
        )
    return missing, "see the step's evidence and diff"


# -- the check ----------------------------------------------------------------------------------------


class Readiness:
    def __init__(
        self,
        rt: Runtime,
        municipality: str,
        *,
        target: str | None = None,
        within_s: float | None = None,
        on_progress: Progress | None = None,
    ) -> None:
        m = rt.routes.municipalities.get(municipality)
        if m is None:
            raise ValueError(f"unknown municipality {municipality} (routes/municipalities.yaml)")
        self.rt = rt
        self.cvr = municipality
        self.system = m.debtor_system
        self.within_s = within_s
        self.on_progress = on_progress
        scenario = model.load(READINESS_SCENARIO)
        if within_s is not None:
            for s in scenario.steps:
                for kind in (s.receive, s.receive_message):
                    if kind is not None:
                        kind.within_s = within_s
        self.runner = ScenarioRun(rt, scenario, municipality=municipality, target=target, on_progress=on_progress)
        self.report = ReadinessReport(
            municipality=municipality,
            municipality_name=m.name,
            debtor_system=self.system,
            started_at=datetime.now(UTC).isoformat(),
            run=self.runner.result,
        )

    async def execute(self) -> ReadinessReport:
        run = await self.runner.execute()
        for item_id in ("1a", "1b", "1c", "1d", "1e"):
            self.report.items.append(self._scenario_item(item_id, run))
        self.report.items.append(self._agreements(run))
        self.report.items.append(await self._sortiment())
        self.report.state = "finished"
        self.report.finished_at = datetime.now(UTC).isoformat()
        if self.on_progress:
            self.on_progress({"event": "readiness", "verdict": self.report.verdict})
        return self.report

    def _scenario_item(self, item_id: str, run: RunResult) -> Item:
        steps = [s for s in run.steps if s.item == item_id]
        item = Item(item_id, ITEMS[item_id], steps=[s.as_dict() for s in steps])
        for s in steps:
            item.evidence.extend(s.exchanges)
        failed = next((s for s in steps if not s.passed), None)
        if steps and failed is None:
            item.verdict = "pass"
            item.summary = "; ".join(f"{s.label}: passed" for s in steps)
        else:
            item.verdict = "fail"
            if failed is None:
                item.missing, item.fix = (
                    "the check has no step for this item",
                    "report this as a simulator bug",
                )
            else:
                item.missing, item.fix = _hint(item_id, failed, self.cvr, self.system)
                item.summary = f"{failed.label}: {failed.verdict}"
        return item

    def _agreements(self, run: RunResult) -> Item:
        item = Item("2", ITEMS["2"])
        routes = self.rt.routes
        types = self.rt.find(BeskedTypes)
        problems, fixes = [], []
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
        send_uuids = {a.uuid for a in send}
        ret_uuids = {a.uuid for a in ret}
        for step in run.steps:
            for ex in step.exchanges:
                if step.item == "1d":
                    under = ex.get("agreement_uuid")
                    item.evidence.append({"exchange": ex["id"], "item": "1d", "agreement_uuid": under})
                    if under not in ret_uuids:
                        problems.append(
                            f"the coverage call {ex['id']} was made under agreement {under}, not {ret_uuids}"
                        )
                    elif ex.get("status") != "ok":
                        problems.append(f"the coverage call {ex['id']} was not accepted ({ex.get('reason')})")
                if step.item == "1e":
                    under = ex.get("agreement_uuid")
                    item.evidence.append({"besked": ex["id"], "item": "1e", "agreement_uuid": under})
                    if under not in send_uuids or ex.get("status") != "ok":
                        problems.append(
                            f"the message {ex['id']} was not accepted under a BeskedAfsend agreement "
                            f"({ex.get('reason') or under})"
                        )
        for it in ("1d", "1e"):
            if not any(s.exchanges for s in run.steps if s.item == it):
                problems.append(f"no {it} call/message was seen, so its agreement was not exercised (see item {it})")
                fixes.append(f"make item {it} pass")
        if problems:
            item.missing = "; ".join(problems)
            item.fix = "; ".join(fixes) if fixes else "see the evidence"
        else:
            item.verdict = "pass"
            item.summary = "agreements active and used by the accepted calls and messages"
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
