"""Admin API of the simulated KY under /api/ky: create and send accounts, change claims, end
liabilities, pay, query the debtor system, and read KY's ledger."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query

from simulator.ky import schemas as o
from simulator.ky.errors import KyError
from simulator.ky.ledger import KyLedger
from simulator.ky.schemas import UUID_PATTERN, AccountIn, ClaimStateIn, EndLiabilityIn, PaymentIn
from simulator.web.deps import Before, RuntimeDep, require_admin

router = APIRouter(prefix="/ky", tags=["ky"], dependencies=[Depends(require_admin)])

Municipality = Annotated[str, Query(pattern=r"^[0-9]{8}$", description="the municipality's CVR (8 digits)")]
Cpr = Annotated[str | None, Query(pattern=r"^[0-9]{10}$", description="10 digits")]
Cvr = Annotated[str | None, Query(pattern=r"^[0-9]{8}$", description="8 digits")]
Uuid = Annotated[str | None, Query(pattern=UUID_PATTERN)]


def ledger(rt: RuntimeDep) -> KyLedger:
    found = rt.find(KyLedger)
    if found is None:
        raise HTTPException(503, "KY is not running (component 'ky')")
    return found


LedgerDep = Annotated[KyLedger, Depends(ledger)]


async def _run(coro) -> Any:
    try:
        return await coro
    except KyError as e:
        raise HTTPException(e.status, e.message) from None


@router.get("/accounts", response_model=list[o.AccountOut])
async def accounts(
    ky: LedgerDep,
    municipality: str | None = None,
    cpr: str | None = None,
    cvr: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[dict[str, Any]]:
    """KY's debtor accounts with claims, movements and outstanding amounts."""
    return await ky.accounts(municipality=municipality, cpr=cpr, cvr=cvr, limit=limit)


@router.post("/accounts", response_model=o.CreatedAccount)
async def create_account(ky: LedgerDep, body: AccountIn) -> dict[str, Any]:
    """Create a debtor account with claims in KY and send it to the municipality's debtor system
    (OpretDebitorkonto through the platform). `sent.accepted` tells whether the debtor system took it."""
    spec = body.model_dump(exclude={"send"})
    spec["debitor"] = body.debitor.model_dump(exclude_none=True)
    if body.liabilities:
        spec["liabilities"] = [lb.model_dump(exclude_none=True) for lb in body.liabilities]
    return await _run(ky.create_account(spec, send=body.send))


@router.get("/accounts/{account_uuid}", response_model=o.AccountOut)
async def account(ky: LedgerDep, account_uuid: str) -> dict[str, Any]:
    return await _run(ky.account(account_uuid))


@router.post("/accounts/{account_uuid}/send", response_model=o.SentAccount)
async def send_account(ky: LedgerDep, account_uuid: str) -> dict[str, Any]:
    """(Re)send OpretDebitorkonto for an account."""
    result = await _run(ky.send_account(account_uuid))
    return {"sent": result.as_dict(), "account": await ky.account(account_uuid)}


@router.get("/accounts/{account_uuid}/remote", response_model=o.RemoteAccountAnswer)
async def remote_account(ky: LedgerDep, account_uuid: str, municipality: Cvr = None) -> dict[str, Any]:
    """LaesDebitorkonto: the account as the debtor system sees it (SF1590_B_02)."""
    return await _run(ky.read_remote_account(account_uuid, municipality))


@router.get("/claims/{claim_uuid}", response_model=o.ClaimOut)
async def claim(ky: LedgerDep, claim_uuid: str) -> dict[str, Any]:
    return await _run(ky.claim_view(claim_uuid))


@router.post("/claims/{claim_uuid}/state", response_model=o.SentClaim)
async def claim_state(ky: LedgerDep, claim_uuid: str, body: ClaimStateIn) -> dict[str, Any]:
    """RetFordringTilstand: change a claim's state (optionally adjusting it down)."""
    down = str(body.down_adjustment) if body.down_adjustment is not None else None
    return await _run(ky.change_claim_state(claim_uuid, body.state, down_adjustment=down, reason=body.reason))


@router.post("/claims/{claim_uuid}/payments", response_model=o.Payment)
async def pay(ky: LedgerDep, claim_uuid: str, body: PaymentIn) -> dict[str, Any]:
    """ForetagIndbetaling: KY pays on a claim (SF1590_B_03)."""
    return await _run(
        ky.pay(
            claim_uuid,
            str(body.amount),
            subclaim_uuid=body.subclaim_uuid,
            value_date=body.value_date,
            payment_uuid=body.payment_uuid,
        )
    )


@router.post("/liabilities/{liability_uuid}/end", response_model=o.SentAccount)
async def end_liability(ky: LedgerDep, liability_uuid: str, body: EndLiabilityIn) -> dict[str, Any]:
    """AfslutHaeftelse / AfslutAdministrator: end a liability."""
    return await _run(ky.end_liability(liability_uuid, body.valid_to, body.reason))


@router.get("/query/accounts", response_model=o.SearchAnswer)
async def search_remote(ky: LedgerDep, municipality: Municipality, cpr: Cpr = None, cvr: Cvr = None) -> dict[str, Any]:
    """SoegDebitorkonto: ask the debtor system for the accounts of a CPR/CVR."""
    return await _run(ky.search_accounts(municipality, cpr=cpr, cvr=cvr))


@router.get("/query/open-subclaims", response_model=o.OpenSubClaimsAnswer)
async def open_subclaims(
    ky: LedgerDep, municipality: Municipality, account_uuid: Uuid = None, cpr: Cpr = None, cvr: Cvr = None
) -> dict[str, Any]:
    """SoegDelfordringTilIndbetaling: sub-claims open for payment, from the debtor system."""
    return await _run(ky.open_subclaims(municipality, account_uuid=account_uuid, cpr=cpr, cvr=cvr))


@router.get("/fordringstyper", response_model=o.ClaimTypesOut)
async def claim_types(ky: LedgerDep, municipality: Municipality) -> dict[str, Any]:
    """The claim types KY puts on the municipality's claims: the Fordringstype Klasser in effect in the
    sortiment version its debtor system acknowledged (the newest when it has acknowledged none)."""
    if municipality not in ky.rt.routes.municipalities:
        raise HTTPException(404, f"unknown municipality {municipality}")
    try:
        types = ky.claim_types.for_municipality(municipality)
    except KyError as e:
        raise HTTPException(e.status, e.message) from None
    return {
        "municipality": municipality,
        "version": types.version,
        "basis": types.basis,
        "types": [t.__dict__ for t in types.types],
    }


@router.get("/postings", response_model=list[o.PostingOut])
async def postings(
    ky: LedgerDep,
    municipality: str | None = None,
    kind: Literal["indbetaling", "daekning", "afskrivning", "nedregulering", "rente", "gebyr"] | None = None,
    claim_uuid: Annotated[str | None, Query(pattern=UUID_PATTERN)] = None,
    before: Before = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    """Movements booked in KY's ledger, newest first (coverages and write-offs from the debtor systems,
    KY's payments and down-adjustments). Page on with `before` = the last item's `id`."""
    return await ky.postings(municipality=municipality, kind=kind, claim_uuid=claim_uuid, before=before, limit=limit)


@router.get("/status-changes", response_model=list[o.StatusChange])
async def status_changes(
    ky: LedgerDep,
    municipality: str | None = None,
    account_uuid: str | None = None,
    before: Before = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    """Account status history entries, newest first (KY's own and those received from Beskedfordeleren).
    Page on with `before` = the last item's `id`."""
    return await ky.status_changes(municipality=municipality, account_uuid=account_uuid, before=before, limit=limit)


@router.get("/fordringer-til-indbetaling", response_model=list[o.FordringTilIndbetalingOut])
async def fordringer_til_indbetaling(
    ky: LedgerDep,
    municipality: str | None = None,
    fordring_uuid: str | None = None,
    before: Before = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    """ "Fordringer til indbetaling" KY received from Beskedfordeleren, newest first. Page on with `before` =
    the last item's `id`."""
    return await ky.fordringer_til_indbetaling(
        municipality=municipality, fordring_uuid=fordring_uuid, before=before, limit=limit
    )
