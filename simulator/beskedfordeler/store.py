"""The Beskedfordeler's store: every query on its tables (simulator/beskedfordeler/models.py), for the service
and the admin API alike (the hot-path statements it runs in one transaction are in `batch_sql.py`)."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, select, update

from simulator.beskedfordeler import batch_sql
from simulator.beskedfordeler.config import Abonnement, Dueslag, MessagesConfig, Subscriptions
from simulator.beskedfordeler.models import BfAbonnement, BfBesked, BfDueslag, BfForsoeg, BfLevering
from simulator.store import Database, where_equal

if TYPE_CHECKING:
    pass

_LEV = BfLevering.__table__


class BeskedStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- dueslag and abonnementer ----------------------------------------------------------------------

    async def sync_config(self, cfg: MessagesConfig) -> Subscriptions:
        """Seed dueslag/abonnementer from the files (API-made ones are kept, like routes); what is in force."""
        async with self.db.session() as s, s.begin():
            api_d = {r.uuid: r for r in await s.scalars(select(BfDueslag))}
            api_a = {r.uuid: r for r in await s.scalars(select(BfAbonnement))}
            for row in api_d.values():
                if row.origin == "file" and row.uuid not in cfg.dueslag:
                    await s.delete(row)
            for row in api_a.values():
                if row.origin == "file" and row.uuid not in cfg.abonnementer:
                    await s.delete(row)
            for d in cfg.dueslag.values():
                row = api_d.get(d.uuid)
                if row is None:
                    s.add(BfDueslag(uuid=d.uuid, data=d.out(), origin="file"))
                elif row.origin == "file":
                    row.data = d.out()
            for a in cfg.abonnementer.values():
                row = api_a.get(a.uuid)
                if row is None:
                    s.add(BfAbonnement(uuid=a.uuid, data=a.out(), origin="file"))
                elif row.origin == "file":
                    row.data = a.out()
        async with self.db.session() as s:
            dueslag = list(await s.scalars(select(BfDueslag)))
            return Subscriptions(
                dueslag={r.uuid: Dueslag(**r.data) for r in dueslag},
                abonnementer={r.uuid: Abonnement(**r.data) for r in await s.scalars(select(BfAbonnement))},
                stopped={r.uuid: r.stopped for r in dueslag if r.stopped},
            )

    async def put_dueslag(self, d: Dueslag, stopped: str | None) -> None:
        async with self.db.session() as s, s.begin():
            await s.merge(BfDueslag(uuid=d.uuid, data=d.out(), origin=d.origin, stopped=stopped))

    async def delete_dueslag(self, uuid_: str) -> bool:
        async with self.db.session() as s, s.begin():
            return bool((await s.execute(delete(BfDueslag).where(BfDueslag.uuid == uuid_))).rowcount)

    async def mark_stopped(self, uuid_: str, reason: str | None) -> None:
        async with self.db.session() as s, s.begin():
            await s.execute(update(BfDueslag).where(BfDueslag.uuid == uuid_).values(stopped=reason))

    async def put_abonnement(self, a: Abonnement) -> None:
        async with self.db.session() as s, s.begin():
            await s.merge(BfAbonnement(uuid=a.uuid, data=a.out(), origin=a.origin))

    async def delete_abonnement(self, uuid_: str) -> bool:
        async with self.db.session() as s, s.begin():
            return bool((await s.execute(delete(BfAbonnement).where(BfAbonnement.uuid == uuid_))).rowcount)

    # -- accepted messages and their copies ------------------------------------------------------------

    async def publish_fresh(
        self,
        keys: list[tuple[str, str]],
        publish: Callable[[set[tuple[str, str]] | None], Awaitable[list[tuple[str, str]]]],
    ) -> None:
        """Publish copies just stored (`keys`: (BeskedId, dueslag)) and mark those published queued. On
        PostgreSQL the rows still pending are locked first (`FOR UPDATE SKIP LOCKED`) and `publish` gets that
        set, so a process sharing the database never publishes the same copy twice; on SQLite it gets None."""
        if self.db.dialect == "postgresql":
            async with self.db.session() as s, s.begin():
                held = set(
                    (
                        await s.execute(
                            select(_LEV.c.besked_id, _LEV.c.dueslag)
                            .where(_LEV.c.besked_id.in_({bid for bid, _ in keys}), _LEV.c.state == "pending")
                            .with_for_update(skip_locked=True, of=_LEV)
                        )
                    ).all()
                )
                for stmt in batch_sql.mark_queued_statements(await publish(held)):
                    await s.execute(stmt)
            return
        published = await publish(None)
        await self.db.transaction(functools.partial(batch_sql.mark_queued, keys=published))

    async def waiting_copies(self) -> list[Any]:
        """Copies queued or in the error queue, oldest first, with what rendering them needs (the in-process
        broker's queues, rebuilt at start)."""
        async with self.db.session() as s:
            return list(
                (
                    await s.execute(
                        select(
                            BfLevering,
                            BfBesked.body,
                            BfBesked.received_at,
                            BfBesked.system,
                            BfBesked.transaktions_id,
                        )
                        .join(BfBesked, BfBesked.besked_id == BfLevering.besked_id)
                        .where(BfLevering.state.in_(("queued", "fejlkoe")))
                        .order_by(BfLevering.seq)
                    )
                ).all()
            )

    async def relay_pending(
        self, limit: int, skip: set[tuple[str, str]], publish: Callable[[Sequence[Any]], Awaitable[list[int]]]
    ) -> int:
        """Hand the oldest pending copies (not in `skip`: (BeskedId, dueslag)) to `publish`, which returns the
        `seq` of those the broker now holds; mark those queued. One transaction that holds the rows: on
        PostgreSQL they are locked (`FOR UPDATE SKIP LOCKED`), so processes sharing the database never publish
        the same copy twice. Returns how many rows were pending (0: nothing left)."""
        stmt = (
            select(  # Core columns: no ORM objects on the hot path; each row reads like a BfLevering
                _LEV.c.seq,
                _LEV.c.besked_id,
                _LEV.c.dueslag,
                _LEV.c.abonnement,
                _LEV.c.tilladte_modtagere,
                BfBesked.body,
                BfBesked.received_at,
                BfBesked.system,
                BfBesked.transaktions_id,
            )
            .join(BfBesked, BfBesked.besked_id == _LEV.c.besked_id)
            .where(_LEV.c.state == "pending")
            .order_by(_LEV.c.seq)
            .limit(limit)
        )
        if self.db.dialect == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True, of=_LEV)
        async with self.db.session() as s, s.begin():
            rows = [r for r in (await s.execute(stmt)).all() if (r.besked_id, r.dueslag) not in skip]
            if not rows:
                return 0
            done = await publish(rows)
            for i in range(0, len(done), 500):
                await s.execute(
                    update(_LEV)
                    .where(_LEV.c.seq.in_(done[i : i + 500]), _LEV.c.state == "pending")
                    .values(state="queued", updated_at=datetime.now(UTC))
                )
            return len(rows)

    async def settle(self, dueslag: str, besked_id: str, state: str, *, attempts: int | None = None) -> None:
        values: dict[str, Any] = {"state": state, "updated_at": datetime.now(UTC)}
        if attempts is not None:
            values["attempts"] = attempts
        async with self.db.session() as s, s.begin():
            await s.execute(
                update(BfLevering)
                .where(BfLevering.besked_id == besked_id, BfLevering.dueslag == dueslag)
                .values(**values)
            )

    async def delivery(self, besked_id: str, dueslag: str) -> BfLevering | None:
        async with self.db.session() as s:
            return await s.scalar(
                select(BfLevering).where(BfLevering.besked_id == besked_id, BfLevering.dueslag == dueslag)
            )

    async def pending_count(self) -> int:
        async with self.db.session() as s:
            return await s.scalar(select(func.count()).select_from(BfLevering).where(BfLevering.state == "pending"))

    async def begin_attempt(self, besked_id: str, dueslag: str, attempt: int, target: str) -> int:
        """Record push attempt `attempt` before it is sent (committed): the copy's attempt count and an
        attempt row with outcome `sendt` (answer not yet known). A crash or restart mid-push then finds the
        count, and the repeat carries a higher AntalLeveranceforsoeg. Returns the attempt row's seq."""
        now = datetime.now(UTC)
        async with self.db.session() as s, s.begin():
            await s.execute(
                update(BfLevering)
                .where(BfLevering.besked_id == besked_id, BfLevering.dueslag == dueslag)
                .values(attempts=attempt, updated_at=now)
            )
            row = BfForsoeg(
                besked_id=besked_id, dueslag=dueslag, attempt=attempt, at=now, target=target, outcome="sendt"
            )
            s.add(row)
            await s.flush()
            return row.seq

    async def end_attempt(self, seq: int, **values: Any) -> None:
        """The answer of a push attempt recorded by `begin_attempt` (outcome, http_status, statuskode, …)."""
        async with self.db.session() as s, s.begin():
            await s.execute(update(BfForsoeg).where(BfForsoeg.seq == seq).values(**values))

    # -- reading (admin API) ---------------------------------------------------------------------------

    async def beskeder(self, *, limit: int, system: str | None, municipality: str | None) -> list[BfBesked]:
        """Accepted messages, newest first."""
        q = where_equal(
            select(BfBesked).order_by(BfBesked.seq.desc()).limit(limit),
            BfBesked,
            system=system,
            municipality=municipality,
        )
        async with self.db.session() as s:
            return list((await s.scalars(q)).all())

    async def besked(self, besked_id: str) -> tuple[BfBesked, list[BfLevering], list[BfForsoeg]] | None:
        """One accepted message, its copies and every delivery attempt; None when unknown."""
        async with self.db.session() as s:
            r = await s.scalar(select(BfBesked).where(BfBesked.besked_id == besked_id))
            if r is None:
                return None
            levs = (await s.scalars(select(BfLevering).where(BfLevering.besked_id == besked_id))).all()
            tries = (
                await s.scalars(select(BfForsoeg).where(BfForsoeg.besked_id == besked_id).order_by(BfForsoeg.seq))
            ).all()
        return r, list(levs), list(tries)

    async def forsoeg(self, dueslag: str, *, before: int | None, limit: int) -> list[BfForsoeg]:
        """Push attempts of a dueslag, newest first (keyset page: `before` = a seq)."""
        q = select(BfForsoeg).where(BfForsoeg.dueslag == dueslag).order_by(BfForsoeg.seq.desc()).limit(limit)
        if before is not None:
            q = q.where(BfForsoeg.seq < before)
        async with self.db.session() as s:
            return list((await s.scalars(q)).all())

    async def leveringer(self, dueslag: str, *, state: str | None, before: int | None, limit: int) -> list[BfLevering]:
        """Copies for a dueslag, newest first (keyset page: `before` = a seq)."""
        q = select(BfLevering).where(BfLevering.dueslag == dueslag).order_by(BfLevering.seq.desc()).limit(limit)
        if state:
            q = q.where(BfLevering.state == state)
        if before is not None:
            q = q.where(BfLevering.seq < before)
        async with self.db.session() as s:
            return list((await s.scalars(q)).all())
