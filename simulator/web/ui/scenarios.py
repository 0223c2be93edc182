"""Scenarios & readiness (`/ui/scenarios`): start an SA 05 readiness check or a replay of a built-in scenario,
watch the runs, open their reports; through the scenarios component's admin functions
(`simulator.scenarios.api`, in-process)."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from simulator.scenarios import api as sc
from simulator.web.deps import RuntimeDep
from simulator.web.ui.common import act, calls, form_of, loaded, page_router, render, unavailable

router = page_router()
PAGE = "/ui/scenarios"


def _run_row(run: dict[str, Any]) -> dict[str, Any]:
    """A run summary with what the runs table shows."""
    progress = run.get("progress") or {}
    done, total = progress.get("done") or 0, progress.get("total") or 0
    finished = run.get("state") != "running"
    return run | {
        "progress_text": f"{done}/{total}" if total else "",
        "percent": 100 if finished else (round(100 * done / total) if total else 0),
        "verdict": run.get("verdict") if finished else None,
        "finished": finished,
    }


@router.get("/ui/scenarios", response_class=HTMLResponse)
async def scenarios(request: Request, rt: RuntimeDep) -> HTMLResponse:
    """Start a readiness check or a replay of a built-in scenario; watch the runs; open their reports."""
    if not loaded(rt, "scenarios"):
        return unavailable(request, "scenarios", "Scenarios & readiness", "scenarios")
    data, errors = await calls(runs=sc.runs(rt), builtin=sc.scenarios(rt))
    return render(
        request,
        "scenarios.html",
        "scenarios",
        runs=[_run_row(r) for r in data["runs"] or []],
        builtin=data["builtin"] or [],
        municipalities=list(rt.routes.municipalities.values()),
        errors=errors,
    )


@router.post("/ui/scenarios/readiness")
async def start_readiness(request: Request, rt: RuntimeDep) -> RedirectResponse:
    form = await form_of(request)
    municipality = form.get("municipality", "")
    job = sc.start_readiness(rt, sc.ReadinessIn(municipality=municipality))
    return await act(PAGE, job, f"readiness run for {municipality} started")


@router.post("/ui/scenarios/replay")
async def start_replay(request: Request, rt: RuntimeDep) -> RedirectResponse:
    form = await form_of(request)
    body = sc.RunIn(scenario=form.get("scenario") or None, municipality=form.get("municipality") or None)
    return await act(PAGE, sc.start_run(rt, body), f"replay of {body.scenario} started")


@router.get("/ui/scenarios/runs/{job_id}/report.{fmt}")
async def report(rt: RuntimeDep, job_id: str, fmt: str) -> Response:
    """A run's report (html, xml = JUnit, json) behind the UI's login: the same document as
    `/api/scenarios/runs/{id}/report.{fmt}`, which wants the Bearer token a browser does not send."""
    return await sc.report(rt, job_id, fmt)
