"""Beskedfordeler (`/ui/beskedfordeler`): broker state, dueslag with queue depths and push state, the
subscriptions, recent messages, what KY received; a dueslag's error queue and attempts; one message.

The Beskedfordeler keeps its admin reads in its admin handlers (`simulator.beskedfordeler.api`); the pages
call those functions in-process (no HTTP), so they show exactly what the admin API answers."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse

from simulator.beskedfordeler import api as bf
from simulator.ky import besked_receiver as ky_receiver
from simulator.security.personal import mask_cpr
from simulator.web.deps import RuntimeDep
from simulator.web.ui.common import (
    act,
    back,
    calls,
    form_of,
    loaded,
    local,
    not_found,
    page_router,
    reason_of,
    refusals,
    render,
)
from simulator.web.ui.common import unavailable as _unavailable
from simulator.web.ui.xml import xml_html

router = page_router()
TITLE = "Beskedfordeler"


def unavailable(request: Request) -> HTMLResponse:
    return _unavailable(request, "beskedfordeler", TITLE, "beskedfordeler")


async def _ky_received(rt) -> list[ky_receiver.Modtaget]:
    return [ky_receiver.Modtaget.model_validate(r) for r in await ky_receiver.modtaget(rt, limit=20, beskedtype=None)]


@router.get("/ui/beskedfordeler", response_class=HTMLResponse)
async def beskedfordeler(request: Request, rt: RuntimeDep) -> HTMLResponse:
    if not loaded(rt, "beskedfordeler"):
        return unavailable(request)
    data, errors = await calls(
        status=bf.status(rt),
        dueslag=bf.dueslag_list(rt),
        abonnementer=bf.abonnementer(rt),
        beskeder=bf.beskeder(rt, limit=50, system=None, municipality=None),
        beskedtyper=bf.beskedtyper(rt),
        ky=_ky_received(rt),
    )
    names = {b["uuid"]: b["name"] for b in data["beskedtyper"] or []}
    return render(
        request,
        "beskedfordeler.html",
        "beskedfordeler",
        data=data,
        errors=errors,
        beskedtyper=names,
        systems={s.key: s for s in rt.routes.systems.values()},
    )


@router.get("/ui/beskedfordeler/dueslag/{uuid}", response_class=HTMLResponse)
async def dueslag(request: Request, rt: RuntimeDep, uuid: str) -> HTMLResponse:
    if not loaded(rt, "beskedfordeler"):
        return unavailable(request)
    data, errors = await calls(
        dueslag=bf.dueslag_list(rt),
        fejlkoe=bf.leveringer(rt, uuid, state="fejlkoe", before=None, limit=200),
        leveringer=bf.leveringer(rt, uuid, state=None, before=None, limit=100),
        forsoeg=bf.forsoeg(rt, uuid, before=None, limit=100),
    )
    d = next((x for x in data["dueslag"] or [] if x.get("uuid") == uuid), None)
    if d is None and not errors:
        return not_found(request, f"dueslag {uuid}", "beskedfordeler")
    return render(request, "dueslag.html", "beskedfordeler", d=d, uuid=uuid, data=data, errors=errors)


@router.get("/ui/beskedfordeler/beskeder/{besked_id}", response_class=HTMLResponse)
async def besked(request: Request, rt: RuntimeDep, besked_id: str) -> HTMLResponse:
    if not loaded(rt, "beskedfordeler"):
        return unavailable(request)
    data, errors = await calls(besked=bf.besked(rt, besked_id))
    b = data["besked"]
    return render(
        request,
        "besked.html",
        "beskedfordeler",
        b=b,
        errors=errors,
        besked_id=besked_id,
        body_xml=xml_html(mask_cpr(b.get("body") or "") if rt.settings.mask_cpr else b.get("body")) if b else None,
    )


@router.post("/ui/beskedfordeler/dueslag/{uuid}/gensend")
async def gensend(request: Request, rt: RuntimeDep, uuid: str) -> RedirectResponse:
    """Re-queue from the error queue: one message (besked_id) or all."""
    form = await form_of(request)
    target = local(form.get("back") or f"/ui/beskedfordeler/dueslag/{quote(uuid)}")
    try:
        result = await bf.gensend(rt, uuid, bf.BeskedRef(besked_id=form.get("besked_id") or None))
    except refusals() as e:
        return back(target, err=f"re-queue failed: {reason_of(e)}")
    return back(target, msg=f"re-queued {len(result.moved)} message(s) from the error queue to dueslag {uuid}")


@router.post("/ui/beskedfordeler/dueslag/{uuid}/genoptag")
async def genoptag(rt: RuntimeDep, uuid: str) -> RedirectResponse:
    return await act("/ui/beskedfordeler", bf.genoptag(rt, uuid), f"push delivery to dueslag {uuid} resumed")
