"""Scenarios & readiness (`/ui/scenarios`): start an SA 05 readiness check; replay a built-in scenario or a
scenario file (uploaded or pasted) for a chosen municipality and target; record a scenario from a session tag;
watch every run, also those started from the CLI or the API (the list keeps polling); open their reports.
Through the scenarios component's admin functions (`simulator.scenarios.api`, in-process)."""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from simulator.scenarios import api as sc
from simulator.web.deps import RuntimeDep
from simulator.web.ui.common import act, calls, form_of, loaded, page_router, reason_of, render, unavailable

router = page_router()
PAGE = "/ui/scenarios"


def _run_row(run: dict[str, Any], result: dict[str, Any]) -> dict[str, Any]:
    """A run summary with what the runs table shows (its session tag: what `record` takes)."""
    progress = run.get("progress") or {}
    done, total = progress.get("done") or 0, progress.get("total") or 0
    finished = run.get("state") != "running"
    return run | {
        "progress_text": f"{done}/{total}" if total else "",
        "percent": 100 if finished else (round(100 * done / total) if total else 0),
        "verdict": run.get("verdict") if finished else None,
        "finished": finished,
        "session": result.get("session") or (result.get("run") or {}).get("session"),
        "target": result.get("target") or (result.get("run") or {}).get("target"),
    }


async def _runs(rt, runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for r in runs:
        detail = await sc.run(rt, r["id"], wait=0, after=2**31)  # no events: the summary and the result
        rows.append(_run_row(r, detail.get("result") or {}))
    return rows


async def _page(request: Request, rt, status_code: int = 200, problem: str | None = None, **extra: Any) -> HTMLResponse:
    data, errors = await calls(runs=sc.runs(rt), builtin=sc.scenarios(rt))
    if problem:
        errors["problem"] = problem
    return render(
        request,
        "scenarios.html",
        "scenarios",
        status_code=status_code,
        runs=await _runs(rt, data["runs"] or []),
        builtin=data["builtin"] or [],
        municipalities=list(rt.routes.municipalities.values()),
        errors=errors,
        **({"recorded": None, "form": {}} | extra),
    )


@router.get("/ui/scenarios", response_class=HTMLResponse)
async def scenarios(request: Request, rt: RuntimeDep) -> HTMLResponse:
    """Start a readiness check, a replay or a recording; watch the runs; open their reports."""
    if not loaded(rt, "scenarios"):
        return unavailable(request, "scenarios", "Scenarios & readiness", "scenarios")
    return await _page(request, rt)


@router.post("/ui/scenarios/readiness")
async def start_readiness(request: Request, rt: RuntimeDep) -> RedirectResponse:
    form = await form_of(request)
    municipality = form.get("municipality", "")
    job = sc.start_readiness(rt, sc.ReadinessIn(municipality=municipality, target=form.get("target") or None))
    return await act(PAGE, job, f"readiness run for {municipality} started")


@router.post("/ui/scenarios/replay")
async def start_replay(request: Request, rt: RuntimeDep) -> RedirectResponse:
    """Replay a built-in scenario, or the scenario file given (uploaded into the form or pasted)."""
    form = await form_of(request)
    text = form.get("text") or None
    body = sc.RunIn(
        scenario=None if text else form.get("scenario") or None,
        text=text,
        municipality=form.get("municipality") or None,
        target=form.get("target") or None,
    )
    what = "the scenario file" if text else body.scenario
    done = f"replay of {what} for {body.municipality or 'its municipality'} started"
    return await act(PAGE, sc.start_run(rt, body), done)


@router.post("/ui/scenarios/record", response_class=HTMLResponse)
async def record(request: Request, rt: RuntimeDep) -> HTMLResponse:
    """A scenario recorded from a session tag (or a municipality's calls), shown as a file to save or replay."""
    form = await form_of(request)
    body = sc.RecordIn(
        name=form.get("name") or "recorded",
        session=form.get("session") or None,
        municipality=form.get("municipality") or None,
    )
    try:
        recorded = await sc.record_scenario(rt, body)
    except HTTPException as e:
        return await _page(request, rt, 422, problem=f"recording failed: {reason_of(e)}", form=form)
    return await _page(request, rt, recorded=recorded["yaml"], form=form)


@router.get("/ui/scenarios/runs/{job_id}/report.{fmt}")
async def report(rt: RuntimeDep, job_id: str, fmt: str) -> Response:
    """A run's report (html, xml = JUnit, json) behind the UI's login: the same document as
    `/api/scenarios/runs/{id}/report.{fmt}`, which wants the Bearer token a browser does not send."""
    return await sc.report(rt, job_id, fmt)
