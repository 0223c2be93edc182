"""One debtor account's whole story (`/ui/ky/accounts/{uuid}`): every SOAP exchange, Beskedfordeler message,
status change and ledger posting of the account and its claims, in true time order (sub-second), each linking
to its detail, with the outstanding amount after each step; and the search that finds an account by CPR/CVR,
account, claim or Besked id (`/ui/ky/find`).

Read through the stores and services: KY's `LedgerViews`, the `ExchangeStore` (bodies that name the account
or one of its claims, and the exchanges the ledger points at) and the Beskedfordeler's store."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from simulator.ky.booking import EFFECT
from simulator.ky.ledger import KyLedger
from simulator.traffic import ExchangeFilter
from simulator.web.deps import RuntimeDep
from simulator.web.ui.common import not_found, page_router, reason_of, refusals, render, unavailable
from simulator.web.ui.outcome import outcomes_of

router = page_router()
_UUIDS = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
MAX_EXCHANGES = 500
"""Exchanges naming the account or one claim, at most (the body search covers the newest 20,000)."""
BESKED_WINDOW = 500
"""The newest Beskedfordeler messages of the account's municipality whose bodies are read for its ids."""


@dataclass
class Event:
    """One line of the timeline."""

    at: datetime
    kind: str  # exchange | besked | status | posting | created
    title: str
    href: str | None = None
    detail: str = ""
    outcome: str = ""  # ok | refusal | fault (exchanges) or the posting's direction
    delta: Decimal | None = None  # what it did to the outstanding amount (postings, the account's claims)
    outstanding: Decimal | None = None
    ids: dict[str, str] = field(default_factory=dict)


def _aware(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _kr(text: str | None) -> Decimal:
    return Decimal(text or "0")


async def _exchanges(rt, terms: list[str], wanted: set[str]) -> list[dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for term in terms:
        for row in await rt.exchanges.search(ExchangeFilter(), term, limit=MAX_EXCHANGES):
            found.setdefault(row["id"], row)
    for ex_id in wanted - found.keys():
        row = await rt.exchanges.get(ex_id)
        if row is not None:
            found[ex_id] = {k: v for k, v in row.items() if k not in ("request_body", "response_body")}
    return list(found.values())


async def _beskeder(rt, municipality: str, terms: list[str], wanted: set[str]) -> list[Any]:
    from simulator.beskedfordeler import Beskedfordeler

    bf = rt.find(Beskedfordeler)
    if bf is None:
        return []
    rows = await bf.store.beskeder(limit=BESKED_WINDOW, system=None, municipality=municipality)
    hits = [r for r in rows if r.besked_id in wanted or any(t in r.body for t in terms)]
    known = {r.besked_id for r in hits}
    for besked_id in wanted - known:
        one = await bf.store.besked(besked_id)
        if one is not None:
            hits.append(one[0])
    return hits


async def _beskedtype_names(rt) -> dict[str, str]:
    from simulator.beskedfordeler import Beskedfordeler

    bf = rt.find(Beskedfordeler)
    return {b.uuid: b.name for b in bf.cfg.beskedtyper.values()} if bf is not None else {}


async def account_story(rt, ledger: KyLedger, account_uuid: str) -> tuple[dict[str, Any], list[Event]]:
    """The account (LedgerViews.account) and its timeline, oldest first."""
    account = await ledger.account(account_uuid)
    claims = account["claims"]
    postings = [p for c in claims for p in await ledger.postings(claim_uuid=c["uuid"], limit=10_000)]
    history = await ledger.status_changes(account_uuid=account_uuid, limit=10_000)
    terms = [account_uuid, *(c["uuid"] for c in claims)]
    exchange_ids = {x["exchange_id"] for x in postings + history if x.get("exchange_id")}
    besked_ids = {h["besked_id"] for h in history if h.get("besked_id")}
    exchanges = await _exchanges(rt, terms, exchange_ids)
    beskeder = await _beskeder(rt, account["municipality"], terms, besked_ids)
    outcomes = await outcomes_of(rt, exchanges)
    received = {b.besked_id: _aware(b.received_at) for b in beskeder}
    short = {c["uuid"]: c["uuid"][:8] for c in claims}

    total = sum((_kr(c["amount"]) for c in claims), Decimal(0))
    events = [
        Event(
            _aware(account["created_at"]),
            "created",
            f"account created with {len(claims)} claim(s)",
            detail=", ".join(f"{short[c['uuid']]}… {c['amount']} kr" for c in claims),
            delta=total,
        )
    ]
    for x in exchanges:
        o = outcomes.get(x["id"])
        events.append(
            Event(
                _aware(x["started_at"]),
                "exchange",
                f"{x.get('service') or '?'} · {x.get('operation') or '?'}",
                href=f"/ui/traffic/{x['id']}",
                detail=(o.label if o else x.get("decision") or "") + (f" — {x['reason']}" if x.get("reason") else ""),
                outcome=o.kind if o else ("fault" if x.get("status") == "fault" else "ok"),
                ids={"exchange": x["id"]},
            )
        )
    names = await _beskedtype_names(rt)
    for b in beskeder:
        events.append(
            Event(
                received[b.besked_id],
                "besked",
                f"Beskedfordeler · {names.get(b.beskedtype, b.beskedtype)}",
                href=f"/ui/beskedfordeler/beskeder/{b.besked_id}",
                detail=f"from {b.system} over {b.channel}",
                ids={"besked": b.besked_id},
            )
        )
    for h in history:
        # a status from a Beskedfordeler message carries the message's own (whole-second) time: it happened
        # when the message arrived
        at = received.get(h.get("besked_id") or "") or _aware(h["at"])
        ids = {k: h[k] for k in ("besked_id", "exchange_id") if h.get(k)}
        href = (
            f"/ui/beskedfordeler/beskeder/{h['besked_id']}"
            if h.get("besked_id")
            else (f"/ui/traffic/{h['exchange_id']}" if h.get("exchange_id") else None)
        )
        events.append(Event(at, "status", f"status {h['status']}", href=href, detail=f"from {h['source']}", ids=ids))
    for p in postings:
        sign = EFFECT.get(p["kind"], 0)
        events.append(
            Event(
                _aware(p["created_at"]),
                "posting",
                f"{p['kind']} {p['amount']} kr on claim {short.get(p['claim_uuid'], '?')}…",
                href=f"/ui/traffic/{p['exchange_id']}" if p.get("exchange_id") else None,
                detail=p.get("reason") or "",
                delta=sign * _kr(p["amount"]),
                ids={"posting": p.get("uuid") or "", "claim": p["claim_uuid"]},
            )
        )
    order = {"created": 0, "exchange": 1, "besked": 2, "status": 3, "posting": 4}
    events.sort(key=lambda e: (e.at, order[e.kind]))
    running = Decimal(0)
    for e in events:
        if e.delta is not None:
            running += e.delta
        e.outstanding = running
    return account, events


@router.get("/ui/ky/accounts/{account_uuid}", response_class=HTMLResponse)
async def account_page(request: Request, rt: RuntimeDep, account_uuid: str) -> HTMLResponse:
    ledger = rt.find(KyLedger)
    if ledger is None:
        return unavailable(request, "ky", "KY ledger", "ky")
    try:
        account, events = await account_story(rt, ledger, account_uuid)
    except refusals() as e:
        if getattr(e, "status", None) == 404 or "no account" in reason_of(e):
            return not_found(request, f"debtor account {account_uuid}", "ky")
        raise
    return render(request, "account.html", "ky", account=account, events=events)


@router.get("/ui/ky/find", response_class=HTMLResponse)
async def find(request: Request, rt: RuntimeDep) -> Response:
    """A CPR/CVR number goes to the ledger filtered by it (or straight to its only account); an account,
    claim or Besked id goes to that account's timeline."""
    ledger = rt.find(KyLedger)
    if ledger is None:
        return unavailable(request, "ky", "KY ledger", "ky")
    q = (request.query_params.get("q") or "").strip()
    if q.isdigit() and len(q) in (8, 10):
        accounts = await ledger.accounts(cpr=q if len(q) == 10 else None, cvr=q if len(q) == 8 else None, limit=2)
        if len(accounts) == 1:
            return RedirectResponse(f"/ui/ky/accounts/{accounts[0]['uuid']}", 303)
        return RedirectResponse("/ui/ky?" + urlencode({"party": q}), 303)
    account_uuid = await _account_of(rt, ledger, q) if q else None
    if account_uuid:
        return RedirectResponse(f"/ui/ky/accounts/{account_uuid}", 303)
    return RedirectResponse("/ui/ky?" + urlencode({"err": f"no debtor account, claim or Besked id '{q}'"}), 303)


async def _account_of(rt, ledger: KyLedger, q: str, *, depth: int = 0) -> str | None:
    """The account an account, claim or Besked id belongs to (a Besked names its account or claim)."""
    for lookup in (ledger.account, ledger.claim_view):
        try:
            found = await lookup(q)
        except refusals():
            continue
        return found.get("account_uuid") or found["uuid"]
    if depth:
        return None
    for h in await ledger.status_changes(limit=10_000):
        if h.get("besked_id") == q:
            return h["account_uuid"]
    from simulator.beskedfordeler import Beskedfordeler

    bf = rt.find(Beskedfordeler)
    one = await bf.store.besked(q) if bf is not None else None
    if one is not None:
        for named in dict.fromkeys(_UUIDS.findall(one[0].body)):
            if named != q and (found := await _account_of(rt, ledger, named, depth=1)):
                return found
    return None
