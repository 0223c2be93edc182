"""The simulated KY ledger: debtor accounts per municipality, their claims and movements. KY's commands
(register an account, change a claim's state, end a liability, pay) are stored here and sent to the debtor
system through `KyClient`; coverages and write-offs the debtor systems report are booked (`Bookings`), and
their Beskedfordeler messages recorded. Read views: `LedgerViews` (simulator.ky.views).

Outstanding per claim = amount − coverages − write-offs − down-adjustments + interest + fees.
KY's own payments (indbetalinger) do not move the balance: the debtor system's coverages do.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from simulator.ky import messages as m
from simulator.ky import xml as x
from simulator.ky.booking import E_NOT_POSITIVE, Bookings, Refusal, check_storable
from simulator.ky.client import KyClient, SendResult
from simulator.ky.contracts import FORDRING_TILSTANDE
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
from simulator.ky.sortiment import SortimentClaimTypes
from simulator.ky.views import LedgerViews
from simulator.soap.context import UUID_RE
from simulator.soap.kvittering import Kvittering

if TYPE_CHECKING:
    from simulator.runtime import Runtime


def _now() -> datetime:
    return datetime.now(UTC)


class KyLedger(LedgerViews):
    """KY's books, stored in the simulator's database (the runtime's `KyLedger`, `KyActions`, `StatusChangeSink`)."""

    def __init__(self, rt: Runtime) -> None:
        super().__init__(rt.db)
        self.rt = rt
        self.bookings = Bookings(rt.db, rt.writer, rt.recorder)
        self.client = KyClient(rt)
        self.claim_types = SortimentClaimTypes(rt)

    # -- KY's own actions -------------------------------------------------------------------------

    async def create_account(self, spec: dict[str, Any], *, send: bool = True) -> dict[str, Any]:
        """Store a debtor account with its claims and send it (OpretDebitorkonto). Each claim's fordringstype
        (UUID or BrugervendtNoegle; default the first) is a claim type of the sortiment version the
        municipality's debtor system acknowledged; only ``fordringstype_outside_sortiment`` sends another."""
        municipality = spec["municipality"]
        if municipality not in self.rt.routes.municipalities:
            raise KyError(422, f"unknown municipality {municipality}")
        debtor = spec["debitor"]
        cpr, cvr = debtor.get("cpr"), debtor.get("cvr")
        if bool(cpr) == bool(cvr):
            raise KyError(422, "debitor needs exactly one of cpr or cvr")
        if not spec.get("claims"):
            raise KyError(422, "an account needs at least one claim")
        types = self.claim_types.for_municipality(municipality)
        outside = bool(spec.get("fordringstype_outside_sortiment"))
        account_uuid = spec.get("account_uuid") or str(uuid.uuid4())
        kind = spec.get("kind") or ("Person" if cpr else "Virksomhed")
        today = date.today()
        account = KyAccount(
            uuid=account_uuid,
            municipality=municipality,
            kind=kind,
            cpr=cpr,
            cvr=cvr,
            name=debtor.get("name"),
            version=1,
            status="oprettet",
            created_at=_now(),
            registration=None,
        )
        liabilities = [
            KyLiability(
                uuid=lb.get("uuid") or str(uuid.uuid4()),
                account_uuid=account_uuid,
                role=lb["role"],
                cpr=lb.get("cpr"),
                cvr=lb.get("cvr"),
                name=lb.get("name"),
                valid_from=lb.get("valid_from") or today,
            )
            for lb in (spec.get("liabilities") or [{"role": "JuridiskAnsvarlig", **debtor}])
        ]
        claims: list[KyClaim] = []
        subclaims: list[KySubClaim] = []
        for c in spec["claims"]:
            amount = x.oere(c["amount"])
            if amount <= 0:
                raise KyError(422, "a claim's amount must be positive")
            claim = KyClaim(
                uuid=c.get("uuid") or str(uuid.uuid4()),
                account_uuid=account_uuid,
                municipality=municipality,
                fordringstype=self.claim_types.resolve(types, c.get("fordringstype"), outside_sortiment=outside),
                amount=amount,
                state="Aktiv",
                period_from=c.get("period_from"),
                period_to=c.get("period_to"),
                due_date=c.get("due_date") or today + timedelta(days=30),
                last_payment_date=c.get("last_payment_date"),
            )
            subs = c.get("subclaims") or [{"amount": c["amount"]}]
            parts = [
                KySubClaim(
                    uuid=s.get("uuid") or str(uuid.uuid4()),
                    claim_uuid=claim.uuid,
                    amount=x.oere(s["amount"]),
                    period_from=s.get("period_from"),
                    period_to=s.get("period_to"),
                    posting=s.get("kontering"),
                )
                for s in subs
            ]
            if sum(p.amount for p in parts) != amount:
                raise KyError(422, f"the sub-claims of claim {claim.uuid} do not add up to its amount")
            claims.append(claim)
            subclaims.extend(parts)
        account.registration = {"opkraevningsform": spec.get("opkraevningsform")}
        async with self.db.session() as s, s.begin():
            if await s.get(KyAccount, account_uuid) is not None:
                raise KyError(409, f"account {account_uuid} exists")
            s.add(account)
            await s.flush()
            s.add_all(liabilities)
            s.add_all(claims)
            await s.flush()
            s.add_all(subclaims)
            s.add(
                KyAccountStatus(
                    account_uuid=account_uuid, municipality=municipality, status="oprettet", at=_now(), source="ky"
                )
            )
        out: dict[str, Any] = {"account_uuid": account_uuid}
        if send:
            out["sent"] = (await self.send_account(account_uuid)).as_dict()
        out["account"] = await self.account(account_uuid)
        return out

    async def send_account(self, account_uuid: str) -> SendResult:
        """(Re)send OpretDebitorkonto; an accepted registration makes the account ``aktiv``."""
        acc = await self.account(account_uuid)
        result = await self.client.send(acc["municipality"], "DebitorRegistreringAfsend", m.opret_debitorkonto(acc))
        if result.accepted:
            await self._set_status(acc["uuid"], acc["municipality"], "aktiv", "ky", result.exchange_id)
        return result

    async def _set_status(
        self, account_uuid: str, municipality: str, status: str, source: str, exchange_id: str | None = None
    ) -> None:
        async with self.db.session() as s, s.begin():
            await s.execute(update(KyAccount).where(KyAccount.uuid == account_uuid).values(status=status))
            s.add(
                KyAccountStatus(
                    account_uuid=account_uuid,
                    municipality=municipality,
                    status=status,
                    at=_now(),
                    source=source,
                    exchange_id=exchange_id,
                )
            )

    async def _claim(self, claim_uuid: str) -> KyClaim:
        async with self.db.session() as s:
            claim = await s.get(KyClaim, claim_uuid)
        if claim is None:
            raise KyError(404, f"no claim {claim_uuid}")
        return claim

    async def change_claim_state(
        self, claim_uuid: str, state: str, *, down_adjustment: str | None = None, reason: str | None = None
    ) -> dict[str, Any]:
        """RetFordringTilstand; with ``down_adjustment`` KY also adjusts the claim down by that amount."""
        if state not in FORDRING_TILSTANDE:
            raise KyError(422, f"state must be one of {', '.join(FORDRING_TILSTANDE)}")
        claim = await self._claim(claim_uuid)
        amount = x.oere(down_adjustment) if down_adjustment is not None else None
        if amount is not None:
            if amount <= 0:
                raise KyError(422, "a down-adjustment must be positive")
            if amount > (await self.claim_view(claim_uuid))["outstanding_oere"]:
                raise KyError(422, "the down-adjustment is above what is outstanding on the claim")
        posting_uuid = str(uuid.uuid4())
        request = m.ret_fordring_tilstand(
            claim.account_uuid,
            claim_uuid,
            state,
            down_adjustment=(posting_uuid, amount) if amount is not None else None,
            reason=reason,
        )
        result = await self.client.send(claim.municipality, "DebitorRegistreringAfsend", request)
        if result.accepted:
            async with self.db.session() as s, s.begin():
                values: dict[str, Any] = {"state": state}
                if amount is not None:
                    values["movements"] = KyClaim.movements - amount
                await s.execute(update(KyClaim).where(KyClaim.uuid == claim_uuid).values(**values))
                if amount is not None:
                    s.add(
                        KyPosting(
                            posting_uuid=posting_uuid,
                            kind="nedregulering",
                            municipality=claim.municipality,
                            claim_uuid=claim_uuid,
                            amount=amount,
                            on_date=date.today(),
                            reason=reason,
                            exchange_id=result.exchange_id,
                            created_at=_now(),
                        )
                    )
        return {"sent": result.as_dict(), "claim": await self.claim_view(claim_uuid)}

    async def end_liability(
        self, liability_uuid: str, valid_to: date | None = None, reason: str | None = None
    ) -> dict[str, Any]:
        """AfslutHaeftelse (AfslutAdministrator for the administrator role): end a liability."""
        async with self.db.session() as s:
            lb = await s.get(KyLiability, liability_uuid)
            acc = await s.get(KyAccount, lb.account_uuid) if lb else None
        if lb is None or acc is None:
            raise KyError(404, f"no liability {liability_uuid}")
        valid_to = valid_to or date.today()
        op = "AfslutAdministrator" if lb.role == "Administrator" else "AfslutHaeftelse"
        request = m.afslut(op, acc.uuid, lb.uuid, valid_to, reason)
        result = await self.client.send(acc.municipality, "DebitorRegistreringAfsend", request)
        if result.accepted:
            async with self.db.session() as s, s.begin():
                await s.execute(update(KyLiability).where(KyLiability.uuid == liability_uuid).values(valid_to=valid_to))
        return {"sent": result.as_dict(), "account": await self.account(acc.uuid)}

    async def pay(
        self,
        claim_uuid: str,
        amount: str,
        *,
        subclaim_uuid: str | None = None,
        value_date: date | None = None,
        payment_uuid: str | None = None,
    ) -> dict[str, Any]:
        """ForetagIndbetaling: KY pays on a claim; the debtor system answers with coverages later."""
        claim = await self._claim(claim_uuid)
        value = x.oere(amount)
        if value <= 0:
            raise KyError(422, "a payment must be positive")
        payment_uuid = payment_uuid or str(uuid.uuid4())
        value_date = value_date or date.today()
        request = m.foretag_indbetaling(payment_uuid, claim_uuid, subclaim_uuid, value, value_date, claim.municipality)
        result = await self.client.send(claim.municipality, "DebitorIndbetalingAfsend", request)
        if result.accepted:
            async with self.db.session() as s, s.begin():
                s.add(
                    KyPosting(
                        posting_uuid=payment_uuid,
                        kind="indbetaling",
                        municipality=claim.municipality,
                        claim_uuid=claim_uuid,
                        subclaim_uuid=subclaim_uuid,
                        payment_uuid=payment_uuid,
                        amount=value,
                        on_date=value_date,
                        exchange_id=result.exchange_id,
                        created_at=_now(),
                    )
                )
        return {"payment_uuid": payment_uuid, "sent": result.as_dict(), "claim": await self.claim_view(claim_uuid)}

    # -- queries to the debtor system (SF1590_B_02, B_03) -----------------------------------------

    async def search_accounts(
        self, municipality: str, *, cpr: str | None = None, cvr: str | None = None
    ) -> dict[str, Any]:
        return await self.client.search_accounts(municipality, cpr=cpr, cvr=cvr)

    async def read_remote_account(self, account_uuid: str, municipality: str | None = None) -> dict[str, Any]:
        """LaesDebitorkonto: the account as the debtor system sees it."""
        if not UUID_RE.match(account_uuid):
            raise KyError(422, f"'{account_uuid}' is not a lower-case UUID")
        if municipality is None:
            municipality = (await self.account(account_uuid))["municipality"]
        return await self.client.read_account(municipality, account_uuid)

    async def open_subclaims(
        self, municipality: str, *, account_uuid: str | None = None, cpr: str | None = None, cvr: str | None = None
    ) -> dict[str, Any]:
        """SoegDelfordringTilIndbetaling: sub-claims open for payment."""
        return await self.client.open_subclaims(municipality, account_uuid=account_uuid, cpr=cpr, cvr=cvr)

    # -- incoming from Beskedfordeleren ------------------------------------------------------------

    async def record_status_change(
        self, municipality: str, debitorkonto_uuid: str, status: str, at: datetime, besked_id: str
    ) -> bool:
        """Append a debtor account status change (debitorkonto statusskift) to the account's history;
        idempotent per ``besked_id``. Returns False for a repeat."""
        async with self.db.session() as s:
            if (await s.scalars(select(KyAccountStatus.id).where(KyAccountStatus.besked_id == besked_id))).first():
                return False
        try:
            async with self.db.session() as s, s.begin():
                s.add(
                    KyAccountStatus(
                        account_uuid=debitorkonto_uuid,
                        municipality=municipality,
                        status=status,
                        at=at,
                        source="beskedfordeler",
                        besked_id=besked_id,
                    )
                )
                await s.flush()
                await s.execute(update(KyAccount).where(KyAccount.uuid == debitorkonto_uuid).values(status=status))
        except IntegrityError:
            return False
        return True

    async def record_fordring_til_indbetaling(
        self,
        municipality: str,
        fordring_uuid: str,
        authorities: list[str],
        period_from: date | None,
        period_to: date | None,
        besked_id: str,
    ) -> bool:
        """Store a "fordring til indbetaling" message (which authorities may pay a claim, and when);
        idempotent per ``besked_id``. Returns False for a repeat."""
        async with self.db.session() as s:
            if (
                await s.scalars(
                    select(KyFordringTilIndbetaling.id).where(KyFordringTilIndbetaling.besked_id == besked_id)
                )
            ).first():
                return False
        try:
            async with self.db.session() as s, s.begin():
                s.add(
                    KyFordringTilIndbetaling(
                        municipality=municipality,
                        fordring_uuid=fordring_uuid,
                        authorities=list(authorities),
                        period_from=period_from,
                        period_to=period_to,
                        besked_id=besked_id,
                        received_at=_now(),
                    )
                )
        except IntegrityError:
            return False
        return True


def check_posting(kind: str, item: dict[str, Any]) -> None:
    """What KY refuses before looking at its books (raises Refusal): a non-positive amount, values no column holds."""
    if item["amount"] <= 0:
        raise Refusal(E_NOT_POSITIVE, f"the amount must be positive ({x.kroner(item['amount'])})")
    check_storable(kind, item)


def posting_receipt(kind: str, item: dict[str, Any], outcome: Any) -> Kvittering:
    """KY's receipt for a booking's outcome: the outstanding amount before it (ACCEPTERET, with what is left),
    a repeat's receipt as it is; a Refusal is raised."""
    if isinstance(outcome, BaseException):
        raise outcome
    if isinstance(outcome, Kvittering):
        return outcome
    what = "coverage" if kind == "daekning" else "write-off"
    return Kvittering(
        "ACCEPTERET",
        f"{what} {item['uuid']} of {x.kroner(item['amount'])} booked on claim "
        f"{item['claim_uuid']}; outstanding now {x.kroner(outcome - item['amount'])}",
    )
