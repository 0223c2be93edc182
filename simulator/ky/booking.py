"""Group-committed booking of coverages and write-offs (builtin:ky's hot path).

Concurrent `Bookings.book()` calls are queued and checked and booked together in one transaction: the
claims of the batch are read once (locked `FOR UPDATE` on PostgreSQL, so processes sharing one database
serialise on the claim), repeats are found with one query, each posting is checked against the claim's
running balance as the batch goes, and all postings plus the new balances are written in one commit.
A caller gets its answer only after that commit. If the database refuses the batch (another process booked
the same posting id meanwhile, or a value it cannot store), the group commit redoes it one posting at a
time: the collision becomes a repeat, never a double, and a posting KY cannot store is refused (KY-DA-000)
alone.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from simulator.ky import xml as x
from simulator.ky.models import KyClaim, KyPosting, KySubClaim
from simulator.soap.kvittering import Kvittering
from simulator.store import Database
from simulator.store.bulk import BulkInsert, driver_sql
from simulator.store.group import GroupCommit
from simulator.store.text import storable

if TYPE_CHECKING:
    from simulator.traffic import Recorder

log = logging.getLogger(__name__)
_CLAIMS = KyClaim.__table__
_POSTINGS = KyPosting.__table__
_P = _POSTINGS.c
_insert_postings = BulkInsert(KyPosting.__table__)

# Signs of each kind of posting in the outstanding amount (indbetaling is informational).
EFFECT = {"daekning": -1, "afskrivning": -1, "nedregulering": -1, "rente": 1, "gebyr": 1, "indbetaling": 0}

# Stable codes of KY's refusals of coverages and write-offs (docs/contracts/sf1590.md).
E_INVALID = "KY-DA-000"
E_UNKNOWN_CLAIM = "KY-DA-001"
E_OTHER_MUNICIPALITY = "KY-DA-002"
E_UNKNOWN_SUBCLAIM = "KY-DA-003"
E_ABOVE_OUTSTANDING = "KY-DA-004"
E_NOT_POSITIVE = "KY-DA-005"
E_ID_CONFLICT = "KY-DA-006"
E_CLAIM_CLOSED = "KY-DA-007"


class Refusal(Exception):
    """An incoming registration KY refuses: becomes an AFVIST Forretningskvittering."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


Finish = Callable[[Any], tuple[bytes, dict[str, Any]]]
"""A booking's outcome (the outstanding amount before it, a repeat's receipt, or a Refusal) → (the answer, the
exchange row to write with the booking)."""


@dataclass
class _Request:
    municipality: str
    kind: str
    item: dict[str, Any]
    exchange_id: str | None
    finish: Finish | None = None
    row: dict[str, Any] | None = None  # the exchange row written with the booking (after `finish`)


@dataclass
class _Claim:
    municipality: str
    amount: int
    movements: int
    state: str
    delta: int = 0

    @property
    def outstanding(self) -> int:
        return self.amount + self.movements + self.delta


class Bookings:
    """Bookings go through the database's group commit (simulator.store.GroupCommit): what concurrent
    callers book is checked and booked together, a batch per transaction."""

    def __init__(self, db: Database, group: GroupCommit | None = None, recorder: Recorder | None = None) -> None:
        self.db = db
        self.recorder = recorder
        self._own_group = group is None
        self.group = group or GroupCommit(db, name="ky-bookings", max_batch=256)
        self.lane = self.group.lane(
            "ky-bookings", self._book_batch_in, on_refused=self._refused, after_commit=self._committed
        )

    async def book(
        self,
        municipality: str,
        kind: str,
        item: dict[str, Any],
        exchange_id: str | None,
        *,
        finish: Finish | None = None,
    ) -> Any:
        """Check and book one posting. Returns the outstanding amount before it (øre) or, for a repeat of
        a booked id, the repeat's receipt; raises Refusal. With `finish` (needs the recorder), returns the
        answer `finish` builds from that outcome instead, its exchange row written in the booking's own
        transaction (a CommittedAnswer; the caller has run `check_storable`, so that a refusal is answered
        before anything is queued). While the database is unavailable, raises its error (the call is
        answered with a fault, nothing written)."""
        if finish is None:
            check_storable(kind, item)
        elif self.recorder is None:
            raise RuntimeError("Bookings: finish needs the recorder")
        return await self.lane.submit(_Request(municipality, kind, item, exchange_id, finish))

    async def stop(self) -> None:
        if self._own_group:
            await self.group.stop()

    def _refused(self, s, r: _Request, error: BaseException) -> Any:
        """The database refused this posting on its own. A unique-key clash: another process booked the same
        id a moment ago, so this is a repeat (or a reused id); anything else: KY cannot take the values. A
        posting with `finish` gets its answer and exchange row here too (if the row is what the database
        refuses, this raises: the caller gets a fault, recorded the ordinary way)."""
        outcome: Any = Refusal(E_INVALID, f"KY cannot store {r.kind} {r.item.get('uuid')}: {_first_line(error)}")
        if isinstance(error, IntegrityError):
            existing = s.execute(
                select(_P.kind, _P.claim_uuid, _P.amount, _P.subclaim_uuid).where(
                    _P.kind == r.kind, _P.posting_uuid == r.item["uuid"]
                )
            ).first()
            if existing is not None:
                try:
                    outcome = repeat_receipt(existing, r.item, r.kind)
                except Refusal as e:
                    outcome = e
        return self._finish(s, [r], [outcome])[0]

    def _committed(self, batch: list[_Request]) -> None:
        rows = [r.row for r in batch if r.row is not None]
        if rows and self.recorder is not None:
            self.recorder.committed(rows)

    def _finish(self, s, batch: list[_Request], outcomes: list[Any]) -> list[Any]:
        """For the postings with `finish`: the answer instead of the outcome, and their exchange rows written."""
        rows = []
        for i, r in enumerate(batch):
            if r.finish is not None:
                outcomes[i], r.row = r.finish(outcomes[i])
                rows.append(r.row)
        if rows:
            self.recorder.write_rows(s, rows)
        return outcomes

    def _book_batch_in(self, s, batch: list[_Request]) -> list[Any]:
        """Check and book a batch (and write the exchange rows of those with `finish`)."""
        return self._finish(s, batch, self._book_in(s, batch))

    def _book_in(self, s, batch: list[_Request]) -> list[Any]:
        """Check and book a batch on one connection, inside its transaction (synchronous: on SQLite the
        whole batch runs in one worker-thread hop, see Database.transaction)."""
        claim_ids = sorted({r.item["claim_uuid"] for r in batch})
        keys = {(r.kind, r.item["uuid"]) for r in batch}
        outcomes: list[Any] = []
        rows: list[dict[str, Any]] = []
        # driver-level statements on the transaction's connection: no ORM or Core compile work on the hot path
        lock = " FOR UPDATE" if self.db.dialect == "postgresql" else ""
        claims = {
            u: _Claim(m, a, mv, st)
            for u, m, a, mv, st in s.exec_driver_sql(
                driver_sql(
                    s,
                    "SELECT uuid, municipality, amount, movements, state FROM {0} WHERE uuid IN ("
                    + ", ".join("?" * len(claim_ids))
                    + ") ORDER BY uuid"  # locked in one order by every process: no deadlock
                    + lock,
                    _CLAIMS,
                ),
                tuple(claim_ids),
            ).all()
        }
        booked = {}
        for kind in sorted({k for k, _ in keys}):  # kind = … AND posting_uuid IN (…): the unique index serves it
            ids = [u for k, u in keys if k == kind]
            for p in s.exec_driver_sql(
                driver_sql(
                    s,
                    "SELECT kind, posting_uuid, claim_uuid, amount, subclaim_uuid FROM {0} "
                    "WHERE kind = ? AND posting_uuid IN (" + ", ".join("?" * len(ids)) + ")",
                    _POSTINGS,
                ),
                (kind, *ids),
            ).all():
                booked[(p.kind, p.posting_uuid)] = p
        subclaims: dict[str, list[int | str]] = {}  # uuid -> [claim_uuid, outstanding]
        now = datetime.now(UTC)
        for r in batch:
            try:
                outcomes.append(self._check(s, r, claims, booked, subclaims))
            except Refusal as e:
                outcomes.append(e)
                continue
            if isinstance(outcomes[-1], Kvittering):
                continue
            item = r.item
            claim = claims[item["claim_uuid"]]
            effect = EFFECT[r.kind] * item["amount"]
            claim.delta += effect
            if item.get("subclaim_uuid"):
                subclaims[item["subclaim_uuid"]][1] += effect
            booked[(r.kind, item["uuid"])] = _Booked(r.kind, item)
            rows.append(
                {
                    "posting_uuid": item["uuid"],
                    "kind": r.kind,
                    "municipality": r.municipality,
                    "claim_uuid": item["claim_uuid"],
                    "subclaim_uuid": item.get("subclaim_uuid"),
                    "payment_uuid": item.get("payment_uuid"),
                    "amount": item["amount"],
                    "on_date": item["date"],
                    "reason": item.get("reason"),
                    "exchange_id": r.exchange_id,
                    "created_at": now,
                }
            )
        if rows:
            _insert_postings(s, rows)
            moved = [(c.delta, u) for u, c in claims.items() if c.delta]
            s.exec_driver_sql(driver_sql(s, "UPDATE {0} SET movements = movements + ? WHERE uuid = ?", _CLAIMS), moved)
        return outcomes

    def _check(self, s, r: _Request, claims: dict[str, _Claim], booked, subclaims) -> Any:
        """The outstanding amount before this posting, a repeat's receipt, or Refusal."""
        item = r.item
        claim_uuid = item["claim_uuid"]
        claim = claims.get(claim_uuid)
        if claim is None:
            raise Refusal(E_UNKNOWN_CLAIM, f"KY has no claim (fordring) {claim_uuid}")
        if claim.municipality != r.municipality:
            raise Refusal(
                E_OTHER_MUNICIPALITY,
                f"claim {claim_uuid} belongs to municipality {claim.municipality}, not to {r.municipality}",
            )
        existing = booked.get((r.kind, item["uuid"]))
        if existing is not None:
            return repeat_receipt(existing, item, r.kind)
        if item.get("subclaim_uuid"):
            sub = subclaims.get(item["subclaim_uuid"])
            if sub is None:
                sc = s.execute(
                    select(KySubClaim.claim_uuid, KySubClaim.amount).where(KySubClaim.uuid == item["subclaim_uuid"])
                ).first()
                if sc is not None:
                    sub = subclaims[item["subclaim_uuid"]] = [
                        sc.claim_uuid,
                        sc.amount + movements_of(s, item["subclaim_uuid"]),
                    ]
            if sub is None or sub[0] != claim_uuid:
                raise Refusal(
                    E_UNKNOWN_SUBCLAIM, f"sub-claim {item['subclaim_uuid']} is not part of claim {claim_uuid}"
                )
            if item["amount"] > sub[1]:
                raise Refusal(
                    E_ABOVE_OUTSTANDING,
                    f"{x.kroner(item['amount'])} is above what is outstanding on sub-claim "
                    f"{item['subclaim_uuid']} ({x.kroner(sub[1])})",
                )
        if claim.state == "Annulleret":
            raise Refusal(E_CLAIM_CLOSED, f"claim {claim_uuid} is cancelled (Annulleret)")
        if item["amount"] > claim.outstanding:
            raise Refusal(
                E_ABOVE_OUTSTANDING,
                f"{x.kroner(item['amount'])} is above what is outstanding on claim {claim_uuid} "
                f"({x.kroner(claim.outstanding)})",
            )
        return claim.outstanding


@dataclass
class _Booked:
    """A posting booked earlier in the same batch (quacks like a KyPosting row for repeat_receipt)."""

    kind: str
    item: dict[str, Any]

    @property
    def claim_uuid(self) -> str:
        return self.item["claim_uuid"]

    @property
    def amount(self) -> int:
        return self.item["amount"]

    @property
    def subclaim_uuid(self) -> str | None:
        return self.item.get("subclaim_uuid")


def movements_of(s, subclaim_uuid: str) -> int:
    """Sum of the balance effects of the postings on a sub-claim (negative: reduces outstanding)."""
    rows = s.execute(
        select(_P.kind, func.sum(_P.amount)).where(_P.subclaim_uuid == subclaim_uuid).group_by(_P.kind)
    ).all()
    return sum(EFFECT.get(kind, 0) * int(total or 0) for kind, total in rows)


def repeat_receipt(existing, item: dict[str, Any], kind: str) -> Kvittering:
    """ACCEPTERET for a repeat with the same content (not counted again); Refusal if the content differs."""
    same = (
        existing.claim_uuid == item["claim_uuid"]
        and existing.amount == item["amount"]
        and (existing.subclaim_uuid or None) == (item.get("subclaim_uuid") or None)
    )
    if not same:
        raise Refusal(
            E_ID_CONFLICT,
            f"{item['uuid']} was registered before with other content "
            f"(claim {existing.claim_uuid}, {x.kroner(existing.amount)})",
        )
    what = "coverage" if kind == "daekning" else "write-off"
    return Kvittering("ACCEPTERET", f"{what} {item['uuid']} was already registered; not counted again")


def _first_line(error: BaseException) -> str:
    return (str(getattr(error, "orig", None) or error).strip().splitlines() or [type(error).__name__])[0][:200]


# item key → (column it is stored in, element the debtor system sent it in; None: by kind)
_STORED_IDS = {
    "uuid": ("posting_uuid", None),
    "claim_uuid": ("claim_uuid", "FordringUUID"),
    "subclaim_uuid": ("subclaim_uuid", "DelfordringUUID"),
    "payment_uuid": ("payment_uuid", "IndbetalingUUID"),
}


_ID_LIMITS = {key: (_P[column].type.length, element) for key, (column, element) in _STORED_IDS.items()}


def check_storable(kind: str, item: dict[str, Any]) -> None:
    """Refuse at the edge what the ledger's columns cannot hold (the same on SQLite, which does not enforce a
    length, and PostgreSQL, which does), and make free text storable."""
    for key, (limit, element) in _ID_LIMITS.items():
        value = item.get(key)
        if value is not None and len(value) > limit:
            name = element or ("DaekningUUID" if kind == "daekning" else "AfskrivningUUID")
            raise Refusal(E_INVALID, f"{name} {value[:60]!r} is not a UUID (longer than {limit} characters)")
    if item.get("reason"):
        item["reason"] = storable(item["reason"])
