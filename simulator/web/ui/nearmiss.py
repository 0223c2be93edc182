"""Near misses, as WireMock shows them: when a scenario or readiness step waited for a call that never came,
the calls that did arrive in that window that came closest (same service, operation or municipality) and
what differed (`/ui/scenarios/runs/{id}`); when a call was refused for its service agreement (SP-130 … SP-136),
the agreements nearest to what the call asked for and the fields that differ (on the exchange's page)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from simulator.scenarios import api as sc
from simulator.traffic import ExchangeFilter
from simulator.web.deps import RuntimeDep
from simulator.web.ui.common import not_found, page_router, reason_of, refusals, render, templates

router = page_router()
NEAREST = 5
WINDOW_ROWS = 500
AGREEMENT_FAULTS = ("SP-130", "SP-131", "SP-132", "SP-133", "SP-134", "SP-135", "SP-136")
_NO_CALL = re.compile(
    r"^no call (?P<service>[^/\s]+)(?:/(?P<operation>\S+))? for municipality (?P<municipality>\S+)"
    r"(?: with (?P<match>.*))? arrived within"
)


_NEVER_BOOKED = re.compile(r"^(?P<operation>\w+) booked by KY$")
_FOR_MUNICIPALITY = re.compile(r"for municipality (?P<municipality>\d{8})")


@dataclass
class Miss:
    row: dict[str, Any]
    differs: list[str]
    score: int


def wanted_by(step: dict[str, Any]) -> dict[str, str | None] | None:
    """What a failed waiting step wanted (service, operation, municipality, body match), or None."""
    m = _NO_CALL.match(step.get("message") or "")
    return m.groupdict() if m and step.get("verdict") in ("fail", "error") else None


def nearest_calls(rows: list[dict[str, Any]], wanted: dict[str, str | None]) -> list[Miss]:
    """The arrived calls closest to `wanted`: those sharing its service, operation or municipality, the most
    alike first, each with what differed."""
    misses = []
    for row in rows:
        differs, score = [], 0
        for field, weight in (("service", 4), ("operation", 2), ("municipality", 1)):
            want = wanted.get(field)
            if want is None or want == "None":
                continue
            if row.get(field) == want:
                score += weight
            else:
                differs.append(f"{field}: {row.get(field) or '—'} (wanted {want})")
        if score == 0:
            continue
        if not differs:
            differs.append(f"the body did not match {wanted['match']}" if wanted.get("match") else "nothing above")
        misses.append(Miss(row, differs, score))
    misses.sort(key=lambda m: (-m.score, str(m.row.get("started_at"))))
    return misses[:NEAREST]


async def step_near_misses(rt, result: dict[str, Any]) -> dict[int, list[Miss]]:
    """For each failed waiting step of a run's result: the nearest calls that arrived between the run's
    start and the step's end."""
    run = result.get("run") or result
    steps = run.get("steps") or result.get("steps") or []
    out: dict[int, list[Miss]] = {}
    started = _time(run.get("started_at"))
    for step in steps:
        wanted = wanted_by(step)
        step_start = _time(step.get("started_at"))
        if wanted is None or step_start is None:
            continue
        until = step_start + timedelta(milliseconds=(step.get("duration_ms") or 0) + 1000)
        rows = await rt.exchanges.page(ExchangeFilter(since=started or step_start, until=until), limit=WINDOW_ROWS)
        out[step["index"]] = nearest_calls(rows, wanted)
    return out


def _service_of(rt, operation: str) -> str | None:
    for service in rt.routes.services.values():
        contract = rt.pipeline.contract_for(service)
        if contract is not None and operation in contract.operations:
            return service.name
    return None


async def item_near_misses(rt, result: dict[str, Any]) -> dict[str, list[Miss]]:
    """For each readiness item that waited for a call KY never got ("RegistrerAfskrivning booked by KY:
    expected at least one …, actual none"): the nearest calls that arrived while the run ran."""
    out: dict[str, list[Miss]] = {}
    since, until = _time(result.get("started_at")), _time(result.get("finished_at"))
    for item in result.get("items") or []:
        for d in item.get("differences") or []:
            m = _NEVER_BOOKED.match(d.get("field") or "")
            muni = _FOR_MUNICIPALITY.search(d.get("expected") or "")
            if not m or d.get("actual") != "none" or since is None:
                continue
            wanted = {
                "service": _service_of(rt, m["operation"]),
                "operation": m["operation"],
                "municipality": muni["municipality"] if muni else result.get("municipality"),
                "match": None,
            }
            end = (until or datetime.now(since.tzinfo)) + timedelta(seconds=1)
            rows = await rt.exchanges.page(ExchangeFilter(since=since, until=end), limit=WINDOW_ROWS)
            out[item["id"]] = nearest_calls(rows, wanted)
    return out


def _time(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if value else None
    except ValueError:
        return None


def nearest_agreements(rt, row: dict[str, Any]) -> list[tuple[Any, list[str]]]:
    """For a call refused for its agreement: the agreements nearest to what it asked for (its agreement
    UUID, calling system, municipality, service, active), each with the fields that differ."""
    if row.get("fault_code") not in AGREEMENT_FAULTS:
        return []
    table = rt.routes
    ctx = row.get("context") or {}  # what the call's InvocationContext and AuthorityContext said
    system_uuid = row.get("system_uuid") or ctx.get("UserSystemUUID")
    system = table.systems_by_uuid.get(system_uuid or "")
    wanted = {
        "uuid": row.get("agreement_uuid") or ctx.get("ServiceAgreementUUID"),
        "system": system.key if system else system_uuid,
        "municipality": row.get("municipality") or ctx.get("MunicipalityCVR"),
        "service": row.get("service"),
    }
    scored = []
    for a in table.agreements.values():
        differs = [f"{k}: {getattr(a, k)} (the call: {v or '—'})" for k, v in wanted.items() if getattr(a, k) != v]
        if not a.active:
            differs.append("active: no")
        same = 4 - sum(1 for k, v in wanted.items() if getattr(a, k) != v)
        if same >= 2:
            scored.append((same + (a.active and 0.5), a, differs))
    scored.sort(key=lambda x: -x[0])
    return [(a, d) for _, a, d in scored[:3]]


@router.get("/ui/scenarios/runs/{job_id}", response_class=HTMLResponse)
async def run_page(request: Request, rt: RuntimeDep, job_id: str) -> HTMLResponse:
    """One run: its steps, verdicts and messages; for a step that waited in vain, the near misses."""
    try:
        detail = await sc.run(rt, job_id, wait=0, after=2**31)
    except refusals() as e:
        return not_found(request, f"run {job_id} ({reason_of(e)})", "scenarios")
    result = detail.get("result") or {}
    run = result.get("run") or result
    return render(
        request,
        "run.html",
        "scenarios",
        run=detail,
        steps=run.get("steps") or [],
        misses=await step_near_misses(rt, result),
        items=result.get("items") or [],
        item_misses=await item_near_misses(rt, result),
    )


templates.env.globals["nearest_agreements"] = nearest_agreements  # the exchange page asks for them
