"""Replaying a scenario against the simulator's running parts (KY's ledger, the platform, the recorder).

Isolation: every id a scenario creates is a variable with a fresh value per run, and ``receive`` steps
select calls by those values, so runs in parallel (same municipality) never see each other's traffic.
Every call a run makes is tagged with the run's session (``Runtime.call`` via ``CALL_SCOPE``), and with
a ``target`` every KY → debtor call of the run goes to that URL instead of the municipality's route.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from lxml import etree

from simulator.capabilities import BeskedTypes, KyActions
from simulator.runtime import CALL_SCOPE, PlatformCallError
from simulator.scenarios import xmlmatch as xm
from simulator.scenarios.model import Matcher, Scenario, Step
from simulator.scenarios.results import RunResult, StepResult, exchange_evidence
from simulator.scenarios.variables import StepFailure, as_dates, generate, resolve_matchers, substitute
from simulator.soap.envelope import parse_xml
from simulator.traffic import ExchangeFilter

if TYPE_CHECKING:
    from simulator.runtime import Runtime

SCENARIO_USER_UUID = "00000000-0000-4000-8000-00000005ce11"
Progress = Callable[[dict[str, Any]], None]


# -- waiting for recorded exchanges ---------------------------------------------------------------------


async def wait_for_exchange(
    rt: Runtime,
    predicate: Callable[[dict[str, Any]], bool],
    *,
    service: str,
    since: datetime,
    timeout: float,
) -> dict[str, Any] | None:
    """The first recorded exchange of ``service`` since ``since`` that ``predicate`` accepts: from the
    database first, then from the recorder's listeners as rows are written, until ``timeout``."""
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    def listener(row: dict[str, Any]) -> None:
        if row.get("service") == service:
            queue.put_nowait(row)

    rt.recorder.listeners.append(listener)  # before the query: nothing written meanwhile is missed
    try:
        for row in await rt.exchanges.rows(ExchangeFilter(service=service, since=since), settled=False):
            if predicate(row):
                return row
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                row = await asyncio.wait_for(queue.get(), remaining)
            except TimeoutError:
                return None
            if predicate(row):
                return row
        return None
    finally:
        rt.recorder.listeners.remove(listener)


# -- the run ------------------------------------------------------------------------------------------


class ScenarioRun:
    def __init__(
        self,
        rt: Runtime,
        scenario: Scenario,
        *,
        municipality: str | None = None,
        target: str | None = None,
        session: str | None = None,
        on_progress: Progress | None = None,
        variables: dict[str, str] | None = None,
        validation: str | None = None,
    ) -> None:
        muni = municipality or scenario.municipality
        if not muni:
            raise ValueError(f"scenario {scenario.name!r} names no municipality: give --municipality")
        if muni not in rt.routes.municipalities:
            raise ValueError(f"unknown municipality {muni} (routes/municipalities.yaml)")
        self.rt = rt
        self.scenario = scenario
        self.municipality = muni
        self.target = target
        self.validation = validation  # strict | lenient | off for every call of the run (readiness: strict)
        run_id = str(uuid.uuid4())
        self.on_progress = on_progress
        debtor_system = rt.routes.municipalities[muni].debtor_system or ""
        self.vars: dict[str, str] = {"municipality": muni, "debtor_system": debtor_system, "run_id": run_id}
        # uuid variables ascend in declaration order, so whatever the systems sort by id (KY lists
        # sub-claims by UUID) comes out in the recorded order
        ordered = iter(sorted(str(uuid.uuid4()) for s in scenario.variables.values() if s == "uuid"))
        for name, spec in scenario.variables.items():
            self.vars[name] = next(ordered) if spec == "uuid" else generate(name, spec)
        self.vars.update(variables or {})
        self.result = RunResult(
            run_id=run_id,
            scenario=scenario.name,
            municipality=muni,
            session=session or f"scenario-{run_id[:8]}",
            target=target,
            started_at=datetime.now(UTC).isoformat(),
            variables=self.vars,
            steps=[
                StepResult(index=i + 1, label=s.label(i), kind=s.kind, id=s.id, item=s.item)
                for i, s in enumerate(scenario.steps)
            ],
        )
        self.since = datetime.now(UTC) - timedelta(seconds=1)
        self.consumed: set[str] = set()

    def scope(self, *, with_target: bool) -> dict[str, str]:
        """The CALL_SCOPE of the run's calls: its session, its validation mode and (KY → debtor) its target."""
        scope = {"session": self.result.session}
        if self.validation:
            scope["validation"] = self.validation
        if with_target and self.target:
            scope["target"] = self.target
        return scope

    def _emit(self, **event: Any) -> None:
        if self.on_progress is not None:
            try:
                self.on_progress(event | {"run_id": self.result.run_id, "total": len(self.scenario.steps)})
            except Exception:  # noqa: BLE001 - a progress display never breaks a run
                pass

    async def execute(self) -> RunResult:
        t0 = time.perf_counter()
        token = CALL_SCOPE.set(self.scope(with_target=True))
        passed: set[str] = set()
        stop = False
        try:
            for step, res in zip(self.scenario.steps, self.result.steps, strict=True):
                missing = [n for n in step.needs if n not in passed]
                if stop or missing:
                    res.verdict = "skipped"
                    res.message = (
                        "an earlier step failed" if stop else f"needs {', '.join(missing)}, which did not pass"
                    )
                    self._emit(event="step", step=res.index, label=res.label, verdict=res.verdict)
                    continue
                self._emit(event="start", step=res.index, label=res.label)
                await self._step(step, res)
                if res.passed:
                    passed.update(n for n in (step.id, f"step{res.index}") if n)
                elif not self.scenario.continue_on_failure:
                    stop = True
                if step.item:  # an item passes only when all its steps pass
                    items_steps = [
                        r for s, r in zip(self.scenario.steps, self.result.steps, strict=True) if s.item == step.item
                    ]
                    if all(r.passed for r in items_steps[: items_steps.index(res) + 1]):
                        passed.add(step.item)
                    else:
                        passed.discard(step.item)
                self._emit(event="step", step=res.index, label=res.label, verdict=res.verdict, message=res.message)
            self.result.state = "finished"
        except asyncio.CancelledError:
            self.result.state = "cancelled"
            raise
        finally:
            CALL_SCOPE.reset(token)
            self.result.finished_at = datetime.now(UTC).isoformat()
            self.result.duration_ms = (time.perf_counter() - t0) * 1000
            self._emit(event="done", verdict=self.result.verdict)
        return self.result

    async def _step(self, step: Step, res: StepResult) -> None:
        t0 = time.perf_counter()
        res.started_at = datetime.now(UTC).isoformat()
        try:
            if step.ky:
                row = await self._ky(step)
                self._verify(step, res, row, on="response")
            elif step.send:
                row = await self._send(step)
                self._verify(step, res, row, on="response")
            elif step.receive:
                row = await self._receive(step)
                self._verify(step, res, row, on="receive")
            else:
                row = await self._receive_message(step)
                self._verify(step, res, row, on="receive")
        except StepFailure as e:
            res.verdict, res.message = "fail", str(e)
        except Exception as e:  # noqa: BLE001 - the verdict says what broke; the run goes on
            res.verdict, res.message = "error", f"{type(e).__name__}: {getattr(e, 'message', None) or e}"
        res.duration_ms = (time.perf_counter() - t0) * 1000

    # -- verification ------------------------------------------------------------------------------------

    def _verify(self, step: Step, res: StepResult, row: dict[str, Any], *, on: str) -> None:
        res.exchanges.append(exchange_evidence(row))
        self.consumed.add(row["id"])
        request = xm.payload_of(row.get("request_body"))
        response = xm.payload_of(row.get("response_body"))
        problems: list[str] = []
        status_ok = {
            "ok": row.get("status") == "ok",
            "fault": row.get("status") == "fault",
            "accepted": row.get("decision") in ("accepted", "routed", "handled") and row.get("status") == "ok",
            "refused": row.get("decision") == "refused",
            "any": True,
        }[step.expect_status]
        if not status_ok:
            what = f"{row.get('decision')}/{row.get('status')}"
            if row.get("fault_code"):
                what += f" {row['fault_code']}"
            problems.append(f"expected status {step.expect_status}, got {what}: {row.get('reason') or ''}".strip())
        rules = [m.model_copy() for m in self.scenario.normalise]
        failed: list[tuple[Matcher, xm.Check, etree._Element | None]] = []
        for doc, matchers in ((response, step.expect), (request, step.expect_request)):
            doc = xm.normalise(doc, rules)
            for m in resolve_matchers(matchers, self.vars):
                c = xm.check(doc, m)
                res.checks.append(c.as_dict())
                if not c.ok:
                    failed.append((m, c, doc))
        if failed:
            problems.append(
                "; ".join(f"{c.path}: expected {c.expected}, actual {c.actual or '(missing)'}" for _, c, _ in failed)
            )
            by_doc: dict[int, tuple[etree._Element | None, list]] = {}
            for m, c, doc in failed:
                by_doc.setdefault(id(doc), (doc, []))[1].append((m, c))
            res.diff = "\n".join(xm.diff(doc, pairs) for doc, pairs in by_doc.values())
        res.actual_xml = xm.pretty(response if on == "response" else request)[:20000]
        for name, path in step.capture.items():
            values = xm.select(response if on == "response" else request, path)
            if not values:
                problems.append(f"capture {name}: {path} selects nothing")
            else:
                self.vars[name] = values[0]
        if problems:
            res.verdict, res.message = "fail", " | ".join(problems)
        else:
            res.verdict = "pass"

    # -- step kinds --------------------------------------------------------------------------------------

    async def _exchange(self, exchange_id: str | None) -> dict[str, Any]:
        if not exchange_id:
            raise StepFailure("the call produced no recorded exchange")
        row = await self.rt.exchanges.get(exchange_id)
        if row is None:
            raise StepFailure(f"exchange {exchange_id} is not recorded")
        return row

    async def _ky(self, step: Step) -> dict[str, Any]:
        from simulator.ky.errors import KyError

        ledger = self.rt.find(KyActions)
        if ledger is None:
            raise StepFailure("KY is not running (component 'ky')")
        a: dict[str, Any] = substitute(step.ky.args, self.vars)
        muni = a.pop("municipality", None) or self.municipality

        def day(key: str) -> date | None:
            return date.fromisoformat(a[key]) if a.get(key) else None

        try:
            match step.ky.action:
                case "create_account":
                    out = await ledger.create_account(as_dates({"municipality": muni, **a}))
                case "pay":
                    out = await ledger.pay(
                        a["claim_uuid"],
                        str(a["amount"]),
                        subclaim_uuid=a.get("subclaim_uuid"),
                        value_date=day("value_date"),
                        payment_uuid=a.get("payment_uuid"),
                    )
                case "change_claim_state":
                    out = await ledger.change_claim_state(
                        a["claim_uuid"],
                        a["state"],
                        down_adjustment=a.get("down_adjustment"),
                        reason=a.get("reason"),
                    )
                case "end_liability":
                    out = await ledger.end_liability(
                        a["liability_uuid"], valid_to=day("valid_to"), reason=a.get("reason")
                    )
                case "search_accounts":
                    out = await ledger.search_accounts(muni, cpr=a.get("cpr"), cvr=a.get("cvr"))
                case "read_account":
                    out = await ledger.read_remote_account(a["account_uuid"], municipality=muni)
                case "open_subclaims":
                    out = await ledger.open_subclaims(
                        muni, account_uuid=a.get("account_uuid"), cpr=a.get("cpr"), cvr=a.get("cvr")
                    )
        except KyError as e:
            raise StepFailure(f"KY refused the action: {e.message}") from None
        except KeyError as e:
            raise StepFailure(f"ky.{step.ky.action}: argument {e} is missing") from None
        return await self._exchange(out["sent"]["exchange_id"])

    async def _send(self, step: Step) -> dict[str, Any]:
        s = step.send
        service = self.rt.routes.services.get(s.service)
        payload = parse_xml(substitute(s.payload, self.vars).encode("utf-8"))
        token = CALL_SCOPE.set(self.scope(with_target=service is not None and service.direction == "ky-to-debtor"))
        try:
            resp = await self.rt.call_as(
                substitute(s.system, self.vars),
                self.municipality,
                s.service,
                payload,
                origin="scenario",
                user_uuid=SCENARIO_USER_UUID,
                operation=s.operation,
            )
        except PlatformCallError as e:
            raise StepFailure(f"send: {e}") from None
        finally:
            CALL_SCOPE.reset(token)
        return await self._exchange(resp.exchange_id)

    def _selects(self, matchers: list[Matcher]) -> Callable[[dict[str, Any]], bool]:
        ms = resolve_matchers(matchers, self.vars)

        def ok(row: dict[str, Any]) -> bool:
            if row.get("id") in self.consumed:
                return False
            doc = xm.payload_of(row.get("request_body"))
            return all(xm.check(doc, m).ok for m in ms)

        return ok

    async def _receive(self, step: Step) -> dict[str, Any]:
        r = step.receive
        muni = substitute(r.municipality, self.vars) if r.municipality else self.municipality
        body_ok = self._selects(r.match)

        def wanted(row: dict[str, Any]) -> bool:
            return (
                (r.operation is None or row.get("operation") == r.operation)
                and row.get("municipality") in (muni, None)
                and body_ok(row)
            )

        row = await wait_for_exchange(self.rt, wanted, service=r.service, since=self.since, timeout=r.within_s)
        if row is None:
            what = f"{r.service}{'/' + r.operation if r.operation else ''} for municipality {muni}"
            sel = "; ".join(
                f"{m.path} = {m.equals or m.regex or m.number or m.exists}"
                for m in resolve_matchers(r.match, self.vars)
            )
            raise StepFailure(f"no call {what}{' with ' + sel if sel else ''} arrived within {r.within_s:g}s")
        return row

    async def _receive_message(self, step: Step) -> dict[str, Any]:
        from simulator.beskedfordeler.service import SEND_SERVICE

        r = step.receive_message
        muni = substitute(r.municipality, self.vars) if r.municipality else self.municipality
        types = self.rt.find(BeskedTypes)
        wanted_types: dict[str, str] = {}
        for name in [r.beskedtype, *r.alternatives]:
            uid = types.beskedtype_uuid(name) if types is not None else None
            wanted_types[(uid or name).lower()] = name
        body_ok = self._selects(r.match)

        def wanted(row: dict[str, Any]) -> bool:
            if row.get("municipality") not in (muni, None):
                return False
            doc = xm.payload_of(row.get("request_body"))
            types = {t.lower() for t in xm.select(doc, "//Filtreringsdata/Beskedtype/*")}
            return bool(types & set(wanted_types)) and body_ok(row)

        row = await wait_for_exchange(self.rt, wanted, service=SEND_SERVICE, since=self.since, timeout=r.within_s)
        if row is None:
            names = " or ".join(wanted_types.values())
            raise StepFailure(
                f"no {names} message for municipality {muni} reached the Beskedfordeler within {r.within_s:g}s"
            )
        return row


async def run_scenario(rt: Runtime, scenario: Scenario, **kw: Any) -> RunResult:
    return await ScenarioRun(rt, scenario, **kw).execute()
