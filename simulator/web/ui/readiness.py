"""Readiness matrix (`/ui/readiness`): every municipality × SA 05 readiness item with the last verdict, its
time and a link into the report of the run it comes from; read from the scenarios component's runs (started
from the UI, the admin API or `simulator readiness --all --url`)."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from simulator.scenarios.readiness import ITEMS
from simulator.scenarios.runs import RunManager
from simulator.web.deps import RuntimeDep
from simulator.web.ui.common import loaded, page_router, render, unavailable

router = page_router()


def matrix(rt) -> list[dict[str, Any]]:
    """One row per municipality (those of the route table first, then any other a run was for): its newest
    finished readiness run's verdict per item, and whether a newer one is running."""
    manager = rt.find(RunManager)
    jobs = [j for j in (manager.jobs.values() if manager else []) if j.kind == "readiness"]
    names = {cvr: m.name for cvr, m in rt.routes.municipalities.items()}
    rows: dict[str, dict[str, Any]] = {
        cvr: {"cvr": cvr, "name": name, "run": None, "running": False, "cells": {}} for cvr, name in names.items()
    }
    for job in jobs:  # oldest first: a later run replaces an earlier one
        row = rows.setdefault(
            job.municipality, {"cvr": job.municipality, "name": "", "run": None, "running": False, "cells": {}}
        )
        if job.state == "running":
            row["running"] = True
            continue
        result = job.result()
        if job.state != "finished" or not result.get("items"):
            continue
        at = result.get("finished_at") or job.created_at
        report = f"/ui/scenarios/runs/{job.id}/report.html"  # behind the UI login (token mode)
        row["name"] = row["name"] or result.get("municipality_name") or ""
        row["run"] = {"id": job.id, "verdict": result.get("verdict"), "at": at, "report": report}
        row["cells"] = {
            it["id"]: {"verdict": it["verdict"], "at": at, "href": f"{report}#item-{it['id']}"}
            for it in result["items"]
        }
    return list(rows.values())


@router.get("/ui/readiness", response_class=HTMLResponse)
async def readiness(request: Request, rt: RuntimeDep) -> HTMLResponse:
    """The readiness matrix: municipality × item, last verdict, its time, link to the report."""
    if not loaded(rt, "scenarios"):
        return unavailable(request, "scenarios", "Readiness matrix", "scenarios")
    return render(request, "readiness_matrix.html", "readiness", rows=matrix(rt), items=ITEMS)
