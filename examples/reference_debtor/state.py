"""The debtor system's books: accounts, claims, sub-claims, payments and postings, per municipality.

What a vendor learns here: the outstanding amount of a claim is its amount − coverages − write-offs −
down-adjustments + interest + fees (:data:`ART` gives each posting's sign), and that is the number KY
compares with its own ledger. A payment or a write-off is spread over the claim's sub-claims in order
(or put on the one named), one posting per sub-claim it touches (:meth:`Claim.book`). Every change
that others must hear about (1e) is put in the books' ``outbox`` together with the change itself and
published only once the call is answered: a refused call leaves neither a change nor a message.

Kept in memory: a real debtor system keeps the same facts in its database, the outbox in the same
transaction as the change.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, ClassVar

from examples.reference_debtor.config import FORDRING_TIL_INDBETALING, STATUSSKIFT
from examples.reference_debtor.soap import Refused, kr

ART = {"Daekning": -1, "Afskrivning": -1, "Nedregulering": -1, "Rente": 1, "Gebyr": 1}
REPORTED_TO_KY = ("Daekning", "Afskrivning")  # the postings the debtor system sends back (1d)
NOT_PAYABLE = ("Annulleret", "Suspenderet")  # claim states that take no payment


@dataclass
class Posting:
    uuid: str
    art: str  # Daekning | Afskrivning | Nedregulering | Rente | Gebyr
    claim_uuid: str
    amount: int  # øre
    on: date
    subclaim_uuid: str | None = None
    payment_uuid: str | None = None
    reason: str | None = None
    aarsag: str | None = None
    reported: str | None = None  # KY's answer (ForretningsValideringsKode) once sent; "KY" if KY booked it

    def as_dict(self) -> dict[str, Any]:
        return {
            "uuid": self.uuid,
            "art": self.art,
            "amount": kr(self.amount),
            "subclaim_uuid": self.subclaim_uuid,
            "payment_uuid": self.payment_uuid,
            "reason": self.reason,
            "reported": self.reported,
        }


@dataclass
class Claim:
    uuid: str
    account_uuid: str
    fordringstype: str
    amount: int
    due: date
    state: str = "Aktiv"
    subclaims: list[dict] = field(default_factory=list)  # {uuid, amount}
    payments: list[dict] = field(default_factory=list)  # {uuid, amount, date, subclaim}
    postings: list[Posting] = field(default_factory=list)

    @property
    def payable(self) -> bool:
        return self.state not in NOT_PAYABLE

    def outstanding(self, subclaim: str | None = None) -> int:
        """What is left to pay on the claim, or on one of its sub-claims (øre)."""
        if subclaim is None:
            return self.amount + sum(ART[p.art] * p.amount for p in self.postings)
        base = next((s["amount"] for s in self.subclaims if s["uuid"] == subclaim), None)
        if base is None:
            raise Refused("DEB-004", f"sub-claim {subclaim} is not part of claim {self.uuid}")
        return base + sum(ART[p.art] * p.amount for p in self.postings if p.subclaim_uuid == subclaim)

    def book(
        self,
        art: str,
        amount: int,
        *,
        on: date,
        subclaim: str | None = None,
        payment_uuid: str | None = None,
        reason: str | None = None,
        aarsag: str | None = None,
    ) -> list[Posting]:
        """Book `amount` as `art` on sub-claim `subclaim`, or on the sub-claims in order: one posting per
        sub-claim it touches, never more than a sub-claim's outstanding amount."""
        made, left = [], amount
        for s in self.subclaims:
            if left == 0:
                break
            if subclaim and s["uuid"] != subclaim:
                continue
            part = min(left, self.outstanding(s["uuid"]))
            if part > 0:
                made.append(
                    Posting(
                        str(uuid.uuid4()),
                        art,
                        self.uuid,
                        part,
                        on,
                        subclaim_uuid=s["uuid"],
                        payment_uuid=payment_uuid,
                        reason=reason,
                        aarsag=aarsag,
                    )
                )
                left -= part
        self.postings.extend(made)
        return made

    def as_dict(self) -> dict[str, Any]:
        return {
            "uuid": self.uuid,
            "state": self.state,
            "amount": kr(self.amount),
            "outstanding": kr(self.outstanding()),
            "subclaims": [
                {"uuid": s["uuid"], "amount": kr(s["amount"]), "outstanding": kr(self.outstanding(s["uuid"]))}
                for s in self.subclaims
            ],
            "payments": [
                {"uuid": p["uuid"], "amount": kr(p["amount"]), "date": p["date"].isoformat()} for p in self.payments
            ],
            "postings": [p.as_dict() for p in self.postings],
        }


@dataclass
class Account:
    uuid: str
    kind: str
    version: int
    debitor: dict
    status: str = "aktiv"
    liabilities: list[dict] = field(default_factory=list)
    claims: dict[str, Claim] = field(default_factory=dict)

    def outstanding(self) -> int:
        return sum(c.outstanding() for c in self.claims.values())

    def belongs_to(self, who: dict[str, str]) -> bool:
        """Is `who` ({cpr?, cvr?}) this account's debtor?"""
        return bool(
            (who.get("cpr") and self.debitor.get("cpr") == who["cpr"])
            or (who.get("cvr") and self.debitor.get("cvr") == who["cvr"])
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "uuid": self.uuid,
            "kind": self.kind,
            "debitor": self.debitor,
            "status": self.status,
            "liabilities": self.liabilities,
            "outstanding": kr(self.outstanding()),
            "claims": [c.as_dict() for c in self.claims.values()],
        }


# -- what the books tell others (1e) -------------------------------------------------------------


@dataclass(frozen=True)
class Statusskift:
    """The account's status changed in this debtor system (DebitorkontoStatusskift)."""

    beskedtype: ClassVar[str] = STATUSSKIFT
    account_uuid: str
    debitor: dict
    forrige_status: str | None
    status: str
    at: datetime


@dataclass(frozen=True)
class TilIndbetaling:
    """The claim is still open for payment, as of this payment (FordringTilIndbetaling)."""

    beskedtype: ClassVar[str] = FORDRING_TIL_INDBETALING
    claim_uuid: str
    account_uuid: str
    debitor: dict
    on: date
    outstanding: int  # øre


Event = Statusskift | TilIndbetaling


class Books:
    """One municipality's debtor ledger (in memory)."""

    def __init__(self) -> None:
        self.accounts: dict[str, Account] = {}
        self.claims: dict[str, Claim] = {}
        self.outbox: list[Event] = []  # what the current call's changes give rise to; published once answered

    def account(self, account_uuid: str) -> Account:
        acc = self.accounts.get(account_uuid)
        if acc is None:
            raise Refused("DEB-003", f"no debtor account {account_uuid}")
        return acc

    def claim(self, claim_uuid: str) -> Claim:
        c = self.claims.get(claim_uuid)
        if c is None:
            raise Refused("DEB-004", f"no claim {claim_uuid}")
        return c

    def to_report(self, *, resend: bool = False) -> list[Posting]:
        """The coverages and write-offs KY has not accepted yet (with `resend`: all of them)."""
        return [
            p
            for c in self.claims.values()
            for p in c.postings
            if p.art in REPORTED_TO_KY and (resend or p.reported != "ACCEPTERET")
        ]

    def write_off(
        self, claim_uuid: str, amount: int, *, subclaim: str | None, aarsag: str, reason: str | None
    ) -> list[Posting]:
        """Write off `amount` of a claim (the debtor system's own decision, reported to KY as 1d)."""
        c = self.claim(claim_uuid)
        if amount > c.outstanding(subclaim):
            raise Refused("DEB-006", f"{kr(amount)} is above what is outstanding ({kr(c.outstanding())})")
        return c.book("Afskrivning", amount, on=date.today(), subclaim=subclaim, reason=reason, aarsag=aarsag)
