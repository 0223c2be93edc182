"""KY ledger (`/ui/ky`): debtor accounts with claims and balances, coverages and write-offs, other postings,
status history and claims open for payment, read from KY's ledger (`rt.get(KyLedger)`)."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import HTMLResponse

from simulator.ky.ledger import KyLedger
from simulator.web.deps import RuntimeDep
from simulator.web.ui.common import calls, page_router, render, unavailable

router = page_router()
COVERAGES = ("daekning", "afskrivning")


@router.get("/ui/ky", response_class=HTMLResponse)
async def ky(request: Request, rt: RuntimeDep) -> HTMLResponse:
    ledger = rt.find(KyLedger)
    if ledger is None:
        return unavailable(request, "ky", "KY ledger", "ky")
    p = request.query_params
    municipality = (p.get("municipality") or "").strip() or None
    party = (p.get("party") or "").strip()
    if party and not (party.isdigit() and len(party) in (8, 10)):
        return render(
            request,
            "ky.html",
            "ky",
            data={},
            errors={"party": f"'{party}' is neither a CPR (10 digits) nor a CVR number (8 digits)"},
            municipality=municipality or "",
            party=party,
            municipalities=list(rt.routes.municipalities.values()),
            coverages=[],
            other_postings=[],
        )
    data, errors = await calls(
        accounts=ledger.accounts(
            municipality=municipality,
            cpr=party if len(party) == 10 else None,
            cvr=party if len(party) == 8 else None,
            limit=100,
        ),
        postings=ledger.postings(municipality=municipality, limit=100),
        status_changes=ledger.status_changes(municipality=municipality, limit=100),
        fordringer=ledger.fordringer_til_indbetaling(municipality=municipality, limit=50),
    )
    postings = data["postings"] or []
    return render(
        request,
        "ky.html",
        "ky",
        data=data,
        errors=errors,
        municipality=municipality or "",
        party=party,
        municipalities=list(rt.routes.municipalities.values()),
        coverages=[x for x in postings if x.get("kind") in COVERAGES],
        other_postings=[x for x in postings if x.get("kind") not in COVERAGES],
    )
