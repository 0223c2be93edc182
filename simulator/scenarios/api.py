"""Admin API: start scenario replays and readiness checks as background runs and watch them
(``/api/scenarios/...``, ``/api/readiness/...``); record a scenario from traffic."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Response
from pydantic import BaseModel, Field

from simulator.scenarios import model
from simulator.scenarios import schemas as o
from simulator.scenarios.record import RecordError, record
from simulator.scenarios.report import to_html, to_json, to_junit
from simulator.scenarios.runs import RunManager
from simulator.web.deps import RuntimeDep, require_admin

router = APIRouter(dependencies=[Depends(require_admin)], tags=["scenarios"])


def _manager(rt):
    m = rt.find(RunManager)
    if m is None:
        raise HTTPException(503, "the scenarios component is not running")
    return m


def builtin_dir(rt):
    return rt.settings.messages_dir / "scenarios"


def _builtin(rt, name: str) -> model.Scenario:
    for path in sorted(builtin_dir(rt).glob("*.y*ml")) + sorted(builtin_dir(rt).glob("*.json")):
        if path.stem == name:
            return model.load(path)
    raise HTTPException(404, f"no built-in scenario {name!r} in {builtin_dir(rt)}")


@router.get("/scenarios", response_model=list[o.ScenarioInfo])
async def scenarios(rt: RuntimeDep) -> list[dict[str, Any]]:
    """The built-in scenarios (messages/scenarios/)."""
    out = []
    for path in sorted(builtin_dir(rt).glob("*.y*ml")):
        try:
            sc = model.load(path)
            out.append(
                {
                    "name": path.stem,
                    "title": sc.name,
                    "description": sc.description,
                    "municipality": sc.municipality,
                    "steps": len(sc.steps),
                }
            )
        except model.ScenarioError as e:
            out.append({"name": path.stem, "error": str(e)})
    return out


class RunIn(BaseModel):
    scenario: str | None = Field(default=None, description="name of a built-in scenario (GET /api/scenarios)")
    document: dict[str, Any] | None = Field(default=None, description="a scenario as JSON")
    text: str | None = Field(default=None, description="a scenario file's YAML/JSON text")
    municipality: str | None = None
    target: str | None = Field(default=None, description="send this run's KY calls to this URL instead of the route")


@router.post("/scenarios/runs", status_code=202, response_model=o.RunSummary)
async def start_run(rt: RuntimeDep, body: RunIn) -> dict[str, Any]:
    """Start a replay; watch it with GET /api/scenarios/runs/{id}?wait=…"""
    try:
        if body.scenario:
            sc = _builtin(rt, body.scenario)
        elif body.document is not None:
            sc = model.parse(body.document, "document")
        elif body.text is not None:
            sc = model.loads(body.text, "text")
        else:
            raise HTTPException(422, "give scenario (a built-in name), document or text")
        job = _manager(rt).start_scenario(sc, body.municipality, body.target)
    except (model.ScenarioError, ValueError) as e:
        raise HTTPException(422, str(e)) from None
    return job.summary()


class ReadinessIn(BaseModel):
    municipality: str
    target: str | None = None
    within_s: float | None = Field(default=None, gt=0, le=600, description="limit for 1c–1e and 3 (default 30 s)")
    evidence_window_days: float = Field(
        default=30.0,
        ge=0,
        le=366,
        description="a write-off (1d) booked this many days ago still counts; 0: this run only",
    )


@router.post("/readiness/runs", status_code=202, response_model=o.RunSummary)
async def start_readiness(rt: RuntimeDep, body: ReadinessIn) -> dict[str, Any]:
    """Start the SA 05 readiness check for a municipality."""
    try:
        job = _manager(rt).start_readiness(body.municipality, body.target, body.within_s, body.evidence_window_days)
    except ValueError as e:
        raise HTTPException(422, str(e)) from None
    return job.summary()


def _job(rt, job_id: str, kind: str | None = None):
    job = _manager(rt).jobs.get(job_id)
    if job is None or (kind and job.kind != kind):
        raise HTTPException(404, f"no run {job_id}")
    return job


@router.get("/scenarios/runs", response_model=list[o.RunSummary])
async def runs(rt: RuntimeDep) -> list[dict[str, Any]]:
    """Runs (replays and readiness checks), newest first."""
    return [j.summary() for j in reversed(_manager(rt).jobs.values())]


async def _watch(rt, job_id: str, wait: float, kind: str | None, after: int = 0) -> dict[str, Any]:
    job = _job(rt, job_id, kind)
    if wait and job.state == "running" and len(job.events) <= after:
        job.changed.clear()
        try:
            await asyncio.wait_for(job.changed.wait(), wait)
        except TimeoutError:
            pass
    return job.summary() | {
        "events": job.events[after:],
        "event_count": len(job.events),
        "result": job.result() or None,
    }


@router.get("/scenarios/runs/{job_id}", response_model=o.RunDetail)
async def run(
    rt: RuntimeDep,
    job_id: str,
    wait: Annotated[float, Query(ge=0, le=60, description="wait up to this long for progress")] = 0,
    after: Annotated[int, Query(ge=0, description="return the events after this many")] = 0,
) -> dict[str, Any]:
    """A run's state, progress, events (after `after`) and (partial) result."""
    return await _watch(rt, job_id, wait, None, after)


@router.get("/readiness/runs/{job_id}", response_model=o.RunDetail)
async def readiness_run(
    rt: RuntimeDep,
    job_id: str,
    wait: Annotated[float, Query(ge=0, le=60)] = 0,
    after: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    return await _watch(rt, job_id, wait, "readiness", after)


@router.get("/scenarios/runs/{job_id}/report.{fmt}", response_class=Response, responses=o.REPORT_RESPONSES)
async def report(rt: RuntimeDep, job_id: str, fmt: str) -> Response:
    """The run's report: html (self-contained), xml (JUnit) or json."""
    job = _job(rt, job_id)
    result = job.result()
    if fmt == "html":
        return Response(to_html(result), media_type="text/html; charset=utf-8")
    if fmt == "xml":
        return Response(to_junit(result), media_type="application/xml")
    if fmt == "json":
        return Response(to_json(result), media_type="application/json")
    raise HTTPException(404, "report formats: html, xml (JUnit), json")


@router.get("/readiness/runs/{job_id}/report.{fmt}", response_class=Response, responses=o.REPORT_RESPONSES)
async def readiness_report(rt: RuntimeDep, job_id: str, fmt: str) -> Response:
    _job(rt, job_id, "readiness")
    return await report(rt, job_id, fmt)


@router.delete("/scenarios/runs/{job_id}", response_model=o.RunSummary)
async def cancel(rt: RuntimeDep, job_id: str) -> dict[str, Any]:
    job = _job(rt, job_id)
    if job.task is not None and not job.task.done():
        job.task.cancel()
        await asyncio.gather(job.task, return_exceptions=True)
    return job.summary()


class RecordIn(BaseModel):
    name: str = "recorded"
    description: str = ""
    session: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    municipality: str | None = None


@router.post("/scenarios/record", response_model=o.Recorded)
async def record_scenario(rt: RuntimeDep, body: RecordIn) -> dict[str, Any]:
    """Turn a session or a time window of recorded exchanges into a scenario (YAML text and JSON)."""
    try:
        sc = await record(
            rt,
            name=body.name,
            description=body.description,
            since=body.since,
            until=body.until,
            session=body.session,
            municipality=body.municipality,
        )
    except (RecordError, model.ScenarioError) as e:
        raise HTTPException(422, str(e)) from None
    return {"yaml": model.dumps(sc), "scenario": sc.dump()}
