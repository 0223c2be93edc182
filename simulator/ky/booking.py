"""Group-committed booking of coverages and write-offs (builtin:ky's hot path).

Concurrent `Bookings.book()` calls are queued and checked and booked together in one transaction: the
claims of the batch are read once (locked `FOR UPDATE` on PostgreSQL, so processes sharing one database
serialise on the claim), repeats are found with one query, each posting is checked against the claim's
running balance as the batch goes, and all postings plus the new balances are written in one commit.
A caller gets its answer only after that commit. If the batch collides with another process booking the
same posting id, it is redone one posting at a time (so the collision becomes a repeat, never a double).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from simulator.ky import xml as x
from simulator.ky.models import KyClaim, KyPosting, KySubClaim
from simulator.soap.kvittering import Kvittering
from simulator.store import Database

log = logging.getLogger(__name__)
_C = KyClaim.__table__.c
_P = KyPosting.__table__.c

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


@dataclass
class _Request:
    municipality: str
    kind: str
    item: dict[str, Any]
    exchange_id: str | None
    done: asyncio.Future = field(repr=False)


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
    """One writer task books what concurrent callers queue, a batch per transaction."""

    def __init__(self, db: Database, *, max_batch: int = 256) -> None:
        self.db = db
        self.max_batch = max_batch
        self._queue: asyncio.Queue[_Request] = asyncio.Queue()
        self._task: asyncio.Task | None = None

    async def book(self, municipality: str, kind: str, item: dict[str, Any], exchange_id: str | None) -> Any:
        """Check and book one posting. Returns the outstanding amount before it (øre) or, for a repeat of
        a booked id, the repeat's receipt; raises Refusal."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="ky-bookings")
        done = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Request(municipality, kind, item, exchange_id, done))
        return await asyncio.shield(done)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self.max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                outcomes = await self._book_batch(batch)
            except IntegrityError:  # another process booked one of these ids meanwhile: one at a time
                outcomes = []
                for r in batch:
                    try:
                        outcomes += await self._book_batch([r])
                    except IntegrityError:
                        outcomes.append(await self._repeat_after_race(r))
                    except Exception as e:  # noqa: BLE001 - answered to its caller
                        outcomes.append(e)
            except Exception as e:  # noqa: BLE001 - the database failed: every caller of the batch hears it
                log.warning("booking a batch of %d failed: %s", len(batch), e)
                outcomes = [e] * len(batch)
            for r, outcome in zip(batch, outcomes, strict=True):
                if r.done.done():
                    continue
                if isinstance(outcome, BaseException):
                    r.done.set_exception(outcome)
                else:
                    r.done.set_result(outcome)

    async def _book_batch(self, batch: list[_Request]) -> list[Any]:
        return await self.db.transaction(lambda conn: self._book_batch_in(conn, batch))

    def _book_batch_in(self, s, batch: list[_Request]) -> list[Any]:
        """Check and book a batch on one connection, inside its transaction (synchronous: on SQLite the
        whole batch runs in one worker-thread hop, see Database.transaction)."""
        claim_ids = sorted({r.item["claim_uuid"] for r in batch})
        keys = {(r.kind, r.item["uuid"]) for r in batch}
        outcomes: list[Any] = []
        rows: list[dict[str, Any]] = []
        # Core on the transaction's connection: no ORM work on the hot path
        stmt = (
            select(_C.uuid, _C.municipality, _C.amount, _C.movements, _C.state)
            .where(_C.uuid.in_(claim_ids))
            .order_by(_C.uuid)  # locked in one order by every process: no deadlock
        )
        if self.db.dialect == "postgresql":
            stmt = stmt.with_for_update()
        claims = {u: _Claim(m, a, mv, st) for u, m, a, mv, st in s.execute(stmt).all()}
        booked = {}
        for kind in sorted({k for k, _ in keys}):  # kind = … AND posting_uuid IN (…): the unique index serves it
            ids = [u for k, u in keys if k == kind]
            for p in s.execute(
                select(_P.kind, _P.posting_uuid, _P.claim_uuid, _P.amount, _P.subclaim_uuid).where(
                    _P.kind == kind, _P.posting_uuid.in_(ids)
                )
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
            s.execute(insert(KyPosting.__table__), rows)
            moved = [{"u": u, "d": c.delta} for u, c in claims.items() if c.delta]
            s.execute(
                update(KyClaim.__table__)
                .where(_C.uuid == bindparam("u"))
                .values(movements=_C.movements + bindparam("d")),
                moved,
            )
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

    async def _repeat_after_race(self, r: _Request) -> Any:
        async with self.db.session() as s:
            existing = (
                await s.scalars(
                    select(KyPosting).where(KyPosting.kind == r.kind, KyPosting.posting_uuid == r.item["uuid"])
                )
            ).first()
        if existing is None:
            return Refusal(E_INVALID, f"could not book {r.item['uuid']}")
        try:
            return repeat_receipt(existing, r.item, r.kind)
        except Refusal as e:
            return e


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
