"""KY ledger (`/ui/ky`): debtor accounts with claims and balances, coverages and write-offs, other postings,
status history and claims open for payment, read from KY's ledger (`rt.get(KyLedger)`). A CPR/CVR filter
narrows every panel to that debtor's accounts and claims; each account links to its timeline."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from simulator.ky.ledger import KyLedger
from simulator.web.deps import RuntimeDep
from simulator.web.ui.common import calls, page_router, render, unavailable

router = page_router()
COVERAGES = ("daekning", "afskrivning")


async def _of_accounts(ledger: KyLedger, accounts: list[dict[str, Any]]) -> dict[str, list]:
    """The postings, status changes and claims open for payment of these accounts only, newest first."""
    claims = [c for a in accounts for c in a.get("claims") or []]
    postings = sorted((p for c in claims for p in c.get("postings") or []), key=lambda p: -p["id"])
    changes = [h for a in accounts for h in await ledger.status_changes(account_uuid=a["uuid"], limit=100)]
    fordringer = [f for c in claims for f in await ledger.fordringer_til_indbetaling(fordring_uuid=c["uuid"])]
    return {
        "postings": postings[:100],
        "status_changes": sorted(changes, key=lambda h: -h["id"])[:100],
        "fordringer": sorted(fordringer, key=lambda f: -f["id"])[:50],
    }


@router.get("/ui/ky", response_class=HTMLResponse)
async def ky(request: Request, rt: RuntimeDep) -> HTMLResponse:
    ledger = rt.find(KyLedger)
    if ledger is None:
        return unavailable(request, "ky", "KY ledger", "ky")
    p = request.query_params
    municipality = (p.get("municipality") or "").strip() or None
    party = (p.get("party") or "").strip()
    page = {
        "municipality": municipality or "",
        "party": party,
        "municipalities": list(rt.routes.municipalities.values()),
    }
    if party and not (party.isdigit() and len(party) in (8, 10)):
        problem = f"'{party}' is neither a CPR (10 digits) nor a CVR number (8 digits)"
        return render(
            request, "ky.html", "ky", data={}, errors={"party": problem}, coverages=[], other_postings=[], **page
        )
    accounts = ledger.accounts(
        municipality=municipality,
        cpr=party if len(party) == 10 else None,
        cvr=party if len(party) == 8 else None,
        limit=100,
    )
    if party:
        data, errors = await calls(accounts=accounts)
        data |= await _of_accounts(ledger, data["accounts"] or [])
    else:
        data, errors = await calls(
            accounts=accounts,
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
        coverages=[x for x in postings if x.get("kind") in COVERAGES],
        other_postings=[x for x in postings if x.get("kind") not in COVERAGES],
        **page,
    )
