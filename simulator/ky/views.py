"""Read views of KY's ledger: accounts with their claims, sub-claims, liabilities and status history, claims with
their totals per kind of posting and what is outstanding, and keyset-paged listings (amounts as kroner text)."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import func, select

from simulator.ky import xml as x
from simulator.ky.booking import EFFECT
from simulator.ky.errors import KyError
from simulator.ky.models import (
    KyAccount,
    KyAccountStatus,
    KyClaim,
    KyFordringTilIndbetaling,
    KyLiability,
    KyPosting,
    KySubClaim,
)
from simulator.store import Database, where_equal

CLAIM_VIEW_POSTINGS = 200
"""A claim's view lists its newest postings only (its totals cover all of them)."""


class LedgerViews:
    """What KY's books say, read from the simulator's database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def accounts(
        self, *, municipality: str | None = None, cpr: str | None = None, cvr: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        stmt = select(KyAccount).order_by(KyAccount.created_at.desc()).limit(limit)
        if municipality:
            stmt = stmt.where(KyAccount.municipality == municipality)
        if cpr:
            stmt = stmt.where(KyAccount.cpr == cpr)
        if cvr:
            stmt = stmt.where(KyAccount.cvr == cvr)
        async with self.db.session() as s:
            rows = (await s.scalars(stmt)).all()
        return [await self.account(a.uuid) for a in rows]

    async def account(self, account_uuid: str) -> dict[str, Any]:
        async with self.db.session() as s:
            acc = await s.get(KyAccount, account_uuid)
            if acc is None:
                raise KyError(404, f"no account {account_uuid}")
            history = (
                await s.scalars(
                    select(KyAccountStatus)
                    .where(KyAccountStatus.account_uuid == account_uuid)
                    .order_by(KyAccountStatus.at, KyAccountStatus.id)
                )
            ).all()
            liabilities = (
                await s.scalars(
                    select(KyLiability)
                    .where(KyLiability.account_uuid == account_uuid)
                    .order_by(KyLiability.valid_from, KyLiability.uuid)
                )
            ).all()
            claims = (
                await s.scalars(
                    select(KyClaim).where(KyClaim.account_uuid == account_uuid).order_by(KyClaim.due_date, KyClaim.uuid)
                )
            ).all()
        claim_views = [await self.claim_view(c.uuid) for c in claims]
        return {
            "uuid": acc.uuid,
            "municipality": acc.municipality,
            "kind": acc.kind,
            "debitor": _party(acc.cpr, acc.cvr, acc.name),
            "version": acc.version,
            "status": acc.status,
            "opkraevningsform": (acc.registration or {}).get("opkraevningsform"),
            "created_at": acc.created_at.isoformat(),
            "status_history": [
                {
                    "status": h.status,
                    "at": h.at.isoformat(),
                    "source": h.source,
                    "besked_id": h.besked_id,
                    "exchange_id": h.exchange_id,
                }
                for h in history
            ],
            "liabilities": [
                {
                    "uuid": lb.uuid,
                    "role": lb.role,
                    "party": _party(lb.cpr, lb.cvr, lb.name),
                    "valid_from": lb.valid_from.isoformat(),
                    "valid_to": lb.valid_to.isoformat() if lb.valid_to else None,
                }
                for lb in liabilities
            ],
            "claims": claim_views,
            "outstanding": x.kroner(sum(c["outstanding_oere"] for c in claim_views)),
        }

    async def claim_view(self, claim_uuid: str) -> dict[str, Any]:
        async with self.db.session() as s:
            c = await s.get(KyClaim, claim_uuid)
            if c is None:
                raise KyError(404, f"no claim {claim_uuid}")
            subs = (
                await s.scalars(select(KySubClaim).where(KySubClaim.claim_uuid == claim_uuid).order_by(KySubClaim.uuid))
            ).all()
            sums = (
                await s.execute(
                    select(KyPosting.kind, func.sum(KyPosting.amount), func.count())
                    .where(KyPosting.claim_uuid == claim_uuid)
                    .group_by(KyPosting.kind)
                )
            ).all()
            newest = (
                await s.scalars(
                    select(KyPosting)
                    .where(KyPosting.claim_uuid == claim_uuid)
                    .order_by(KyPosting.id.desc())
                    .limit(CLAIM_VIEW_POSTINGS)
                )
            ).all()
        totals = dict.fromkeys(EFFECT, 0) | {kind: int(total or 0) for kind, total, _ in sums}
        outstanding = c.amount + sum(EFFECT.get(kind, 0) * total for kind, total in totals.items())
        return {
            "uuid": c.uuid,
            "account_uuid": c.account_uuid,
            "municipality": c.municipality,
            "fordringstype": c.fordringstype,
            "amount": x.kroner(c.amount),
            "state": c.state,
            "period_from": _iso(c.period_from),
            "period_to": _iso(c.period_to),
            "due_date": _iso(c.due_date),
            "last_payment_date": _iso(c.last_payment_date),
            "subclaims": [
                {
                    "uuid": sc.uuid,
                    "amount": x.kroner(sc.amount),
                    "period_from": _iso(sc.period_from),
                    "period_to": _iso(sc.period_to),
                    "kontering": sc.posting,
                }
                for sc in subs
            ],
            "paid": x.kroner(totals["indbetaling"]),
            "covered": x.kroner(totals["daekning"]),
            "written_off": x.kroner(totals["afskrivning"]),
            "down_adjusted": x.kroner(totals["nedregulering"]),
            "interest": x.kroner(totals["rente"]),
            "fees": x.kroner(totals["gebyr"]),
            "outstanding": x.kroner(outstanding),
            "outstanding_oere": outstanding,
            # the running balance booked with each posting agrees with the sum of the postings
            "balance_consistent": c.amount + c.movements == outstanding,
            "postings_count": sum(n for _, _, n in sums),
            "postings": [_posting(p) for p in reversed(newest)],  # the newest CLAIM_VIEW_POSTINGS, oldest first
        }

    async def postings(
        self,
        *,
        municipality: str | None = None,
        kind: str | None = None,
        claim_uuid: str | None = None,
        before: int | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        stmt = where_equal(
            _newest_first(KyPosting, before, limit),
            KyPosting,
            municipality=municipality,
            kind=kind,
            claim_uuid=claim_uuid,
        )
        async with self.db.session() as s:
            return [_posting(p) for p in (await s.scalars(stmt)).all()]

    async def status_changes(
        self,
        *,
        municipality: str | None = None,
        account_uuid: str | None = None,
        before: int | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        stmt = where_equal(
            _newest_first(KyAccountStatus, before, limit),
            KyAccountStatus,
            municipality=municipality,
            account_uuid=account_uuid,
        )
        async with self.db.session() as s:
            rows = (await s.scalars(stmt)).all()
        return [
            {
                "id": r.id,
                "account_uuid": r.account_uuid,
                "municipality": r.municipality,
                "status": r.status,
                "at": r.at.isoformat(),
                "source": r.source,
                "besked_id": r.besked_id,
                "exchange_id": r.exchange_id,
            }
            for r in rows
        ]

    async def fordringer_til_indbetaling(
        self,
        *,
        municipality: str | None = None,
        fordring_uuid: str | None = None,
        before: int | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        stmt = where_equal(
            _newest_first(KyFordringTilIndbetaling, before, limit),
            KyFordringTilIndbetaling,
            municipality=municipality,
            fordring_uuid=fordring_uuid,
        )
        async with self.db.session() as s:
            rows = (await s.scalars(stmt)).all()
        return [
            {
                "id": r.id,
                "municipality": r.municipality,
                "fordring_uuid": r.fordring_uuid,
                "authorities": r.authorities,
                "period_from": _iso(r.period_from),
                "period_to": _iso(r.period_to),
                "besked_id": r.besked_id,
                "received_at": r.received_at.isoformat(),
            }
            for r in rows
        ]

    async def counts(self) -> dict[str, int]:
        async with self.db.session() as s:
            return {
                "accounts": await s.scalar(select(func.count()).select_from(KyAccount)) or 0,
                "postings": await s.scalar(select(func.count()).select_from(KyPosting)) or 0,
            }


def _party(cpr: str | None, cvr: str | None, name: str | None) -> dict[str, Any]:
    return {k: v for k, v in {"cpr": cpr, "cvr": cvr, "name": name}.items() if v}


def _newest_first(model, before: int | None, limit: int):
    """A keyset page of a ledger listing: newest first, rows older than the `before` id (the last id of the
    previous page)."""
    stmt = select(model).order_by(model.id.desc()).limit(limit)
    return stmt if before is None else stmt.where(model.id < before)


def _posting(p: KyPosting) -> dict[str, Any]:
    return {
        "id": p.id,
        "uuid": p.posting_uuid,
        "kind": p.kind,
        "municipality": p.municipality,
        "claim_uuid": p.claim_uuid,
        "subclaim_uuid": p.subclaim_uuid,
        "payment_uuid": p.payment_uuid,
        "amount": x.kroner(p.amount),
        "date": p.on_date.isoformat(),
        "reason": p.reason,
        "exchange_id": p.exchange_id,
        "created_at": p.created_at.isoformat(),
    }


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value else None
