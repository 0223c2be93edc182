"""Sortiments (`/ui/sortiment`): versions with their change sets, a diff of two versions, the subscribers
with what they acknowledged, and the recent deliveries (`simulator.klassifikation.api`, in-process)."""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from simulator.klassifikation import api as kl
from simulator.web.deps import RuntimeDep
from simulator.web.ui.common import act, calls, loaded, page_router, render, unavailable

router = page_router()
DIFF_FIELDS = ("brugervendt_noegle", "titel", "beskrivelse", "facet", "overordnet", "virkning_fra", "virkning_til")


@router.get("/ui/sortiment", response_class=HTMLResponse)
async def sortiment(request: Request, rt: RuntimeDep) -> HTMLResponse:
    if not loaded(rt, "klassifikation"):
        return unavailable(request, "sortiment", "Sortiments", "klassifikation")
    data, errors = await calls(
        versions=kl.versions(rt),
        subscriptions=kl.subscriptions(rt),
        deliveries=kl.deliveries(rt, subscription=None, limit=50),
    )
    versions = data["versions"] or []
    diff = None
    p = request.query_params
    a, b = p.get("from", ""), p.get("to", "")
    if a.isdigit() and b.isdigit():
        snaps, snap_errors = await calls(a=kl.version(rt, int(a)), b=kl.version(rt, int(b)))
        errors |= snap_errors
        if snaps["a"] and snaps["b"]:
            diff = sortiment_diff(snaps["a"], snaps["b"])
    elif len(versions) >= 2:
        a, b = str(versions[-2]["version"]), str(versions[-1]["version"])
    return render(
        request,
        "sortiment.html",
        "sortiment",
        data=data,
        errors=errors,
        versions=versions,
        diff=diff,
        diff_from=a,
        diff_to=b,
    )


def sortiment_diff(a: dict[str, Any], b: dict[str, Any]) -> list[dict[str, Any]]:
    """Klasser added, removed, retired and changed between two version snapshots."""
    ka = {k["uuid"]: k for k in a.get("klasser", [])}
    kb = {k["uuid"]: k for k in b.get("klasser", [])}
    out: list[dict[str, Any]] = []
    for uuid, k in kb.items():
        old = ka.get(uuid)
        if old is None:
            out.append({"change": "added", "klasse": k, "fields": {f: (None, k.get(f)) for f in ("titel",)}})
            continue
        changed = {f: (old.get(f), k.get(f)) for f in DIFF_FIELDS if old.get(f) != k.get(f)}
        if changed:
            kind = "retired" if not old.get("virkning_til") and k.get("virkning_til") else "changed"
            out.append({"change": kind, "klasse": k, "fields": changed})
    for uuid, k in ka.items():
        if uuid not in kb:
            out.append({"change": "removed", "klasse": k, "fields": {}})
    return out


@router.post("/ui/sortiment/subscriptions/{municipality}/{system}/{action}")
async def subscription_action(rt: RuntimeDep, municipality: str, system: str, action: str) -> RedirectResponse:
    if action not in ("resend", "retry"):
        raise HTTPException(404, f"no action {action}")
    job = (kl.resend if action == "resend" else kl.retry)(rt, municipality, system)
    done = {"resend": "whole sortiment queued again", "retry": "delivery retried"}[action]
    return await act("/ui/sortiment", job, f"{municipality}:{system}: {done}")
