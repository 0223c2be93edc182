"""The outbox: accepted messages are stored through the database's group commit (`simulator.store.group`, a
lane of the runtime's one writer: a message is answered once its batch is committed, and a message the
database refuses is refused alone, 40, never failing its batch) and the relay publishes each stored copy to
its dueslag on the broker.

The relay has two ways: the fast path publishes the copies of a batch just committed from memory (parsed, no
read-back), in the order they were stored; the database pass publishes whatever is still pending (at start,
after trouble until nothing is pending, and once a second for copies stored by another process)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict, deque
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from lxml import etree
from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from simulator.beskedfordeler import batch_sql
from simulator.beskedfordeler import kuvert as kv
from simulator.beskedfordeler.answers import Retur
from simulator.beskedfordeler.broker import Broker, BrokerUnavailable
from simulator.beskedfordeler.store import BeskedStore
from simulator.store.group import GroupCommit

if TYPE_CHECKING:
    from simulator.beskedfordeler.accept import Prepared
    from simulator.serviceplatform import RouteTable

log = logging.getLogger(__name__)

FORDELINGSSYSTEM = "256e1a88-396f-43fc-8353-a35f5cfd49b9"
"""UUID the simulated Beskedfordeler puts in Leverancerute/Fordelingssystem."""


class Outbox:
    def __init__(self, store: BeskedStore, broker: Broker, routes: RouteTable, group: GroupCommit) -> None:
        self.store = store
        self.broker = broker
        self.routes = routes
        self.lane = group.lane("bf-beskeder", self._write_in, on_refused=self._refused, after_commit=self._stored)
        self._relay_wake = asyncio.Event()
        # the fast path: messages just stored go to the relay in memory (parsed), in the order they were
        # stored; their copies are published without reading them back. `_fast_keys` are the
        # (BeskedId, dueslag) copies it owns, so the database pass leaves them alone
        self._fast: deque[tuple[Prepared, datetime]] = deque()
        self._fast_keys: set[tuple[str, str]] = set()
        self._fast_on = False  # off until the database pass found nothing pending (start, broker trouble)
        self._fast_epoch = 0  # counts the times the fast path was switched off (its claims dropped)
        self._reconcile = True  # at start: a crash may have left published-but-unmarked copies
        self.relay_error: str | None = None
        self._tasks: list[asyncio.Task] = []

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._relay(), name="bf-relay")]

    async def stop(self) -> None:
        """Stop the relay (copies not yet published stay pending: the next start publishes them). What is
        queued for the writer is written by the runtime's writer as it stops, within its bound."""
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t

    async def submit(self, prepared: Prepared) -> Retur:
        """Store a checked message through the group commit; its answer once stored (or refused)."""
        fast, epoch = self._fast_on, self._fast_epoch
        keys = [(prepared.besked.besked_id, d) for d, _, _ in prepared.copies] if fast else []
        # claimed before the commit: once the rows are visible the database pass must leave them alone
        self._fast_keys.update(keys)
        prepared.claim = (epoch if fast else None, keys)
        try:
            return await self.lane.submit(prepared)
        except Exception as e:  # noqa: BLE001 - answer 50: the database is unavailable, nothing was accepted
            self._fast_keys.difference_update(keys)
            log.warning("storing message %s failed: %s", prepared.besked.besked_id, e)
            return Retur(50, "INTERN_FEJL", f"storing the message failed: {type(e).__name__}: {e}"[:500])

    # -- the writer's lane (runs inside the group commit's transaction) ----------------------------------

    @staticmethod
    def _write_in(conn: Connection, batch: list[Prepared]) -> list[Retur]:
        """Store a batch (one transaction, shared with the other lanes): 20 when stored (or a repeat of a
        stored one), 40 for a reused BeskedId. `stored_at` is set on the messages stored now."""
        now = datetime.now(UTC)
        out = []
        for p, retur, new in batch_sql.persist_batch(conn, batch=batch, now=now):
            p.stored_at = now if new else None
            out.append(retur)
        return out

    @classmethod
    def _refused(cls, conn: Connection, p: Prepared, error: BaseException) -> Retur:
        """The database refused this message (alone: its neighbours were stored without it). A BeskedId
        another process stored a moment ago makes it a repeat (answered as such); anything else is refused 40
        for this message alone, never retried."""
        if isinstance(error, IntegrityError):
            return cls._write_in(conn, [p])[0]
        p.stored_at = None
        return Retur(
            40,
            "UGYLDIG_XML",
            f"the message cannot be stored ({type(error).__name__}: {str(error).splitlines()[0][:300]})",
            p.besked.besked_id,
        )

    def _stored(self, items: list[Prepared]) -> None:
        """After a commit (in batch order): messages stored now go the fast way when it held their copies
        all along; every other claim is released."""
        for p in items:
            epoch, keys = p.claim
            if (
                p.stored_at is not None
                and p.copies
                and epoch is not None
                and self._fast_on
                and epoch == self._fast_epoch
            ):
                self._fast.append((p, p.stored_at))
            else:
                self._fast_keys.difference_update(keys)
        self._relay_wake.set()

    # -- relay -------------------------------------------------------------------------------------------

    def render(
        self,
        original: bytes | etree._Element,
        abonnement: str,
        tilladte_modtagere: list[str] | None,
        received: datetime,
        system: str,
        transaktions_id: str,
        forsoeg: int = 1,
        *,
        in_place: bool = False,
    ) -> bytes:
        """The delivered copy of a message for one dueslag (its abonnement, TilladtModtager trimmed to
        `tilladte_modtagere`). `in_place` changes the parsed original itself (its last use) instead of a copy."""
        sys_def = self.routes.systems.get(system)
        root = kv.delivered_copy(
            original,
            kv.Leverance(
                abonnement=abonnement,
                fordelingssystem=FORDELINGSSYSTEM,
                modtaget_fra=sys_def.uuid if sys_def else None,
                modtaget=_aware(received),
                leveret=datetime.now(UTC),
                forsoeg=forsoeg,
                transaktions_id=transaktions_id,
                kildesystem=sys_def.uuid if sys_def else None,
                tilladte_modtagere=tilladte_modtagere,
            ),
            in_place=in_place,
        )
        return etree.tostring(root, xml_declaration=True, encoding="utf-8", standalone=True)

    async def _relay(self) -> None:
        """Publish what was stored: the fast path while all is well; the database pass at start, after
        trouble (until nothing is pending) and once a second (copies of other processes)."""
        delay = 0.1
        next_pass = 0.0
        while True:
            try:
                if self._fast:
                    await self._relay_fast()
                    delay = 0.1
                    continue
                if not self._fast_on or time.monotonic() >= next_pass:
                    moved = await self._relay_pending()
                    self.relay_error = None
                    delay = 0.1
                    if moved:
                        continue
                    next_pass = time.monotonic() + 1.0
                    if not self._fast_on and not self._reconcile:
                        self._fast_on = True  # nothing of ours is pending any more: new messages go the fast way
                    if self._fast:
                        continue
                self._relay_wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._relay_wake.wait(), timeout=max(0.01, next_pass - time.monotonic()))
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - keep the rows pending and try again
                self.relay_error = f"{type(e).__name__}: {e}"
                self._reconcile = True
                self._fast_off()
                log.warning("distributing failed (%s); retrying in %.1fs", e, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    def _fast_off(self) -> None:
        """Leave every copy not yet published to the database pass (rows pending, in order)."""
        self._fast_on = False
        self._fast_epoch += 1
        self._fast.clear()
        self._fast_keys.clear()

    async def _relay_fast(self, limit: int = 500) -> None:
        """Publish the copies of messages just stored, from memory (rendered from the parsed message, no
        read-back), then mark them queued."""
        items: list[tuple[Prepared, datetime]] = []
        n = 0
        while self._fast and n < limit:
            p, received = self._fast.popleft()
            items.append((p, received))
            n += len(p.copies)
        keys = [(p.besked.besked_id, c[0]) for p, _ in items for c in p.copies]
        try:
            await self.store.publish_fresh(keys, lambda held: self._publish_fast(items, held))
        finally:
            self._fast_keys.difference_update(keys)
        self.relay_error = None

    async def _publish_fast(
        self, items: list[tuple[Prepared, datetime]], held: set[tuple[str, str]] | None
    ) -> list[tuple[str, str]]:
        by_dueslag: dict[str, list[tuple[str, bytes]]] = defaultdict(list)
        for p, received in items:
            bid = p.besked.besked_id
            last = len(p.copies) - 1
            for i, (dueslag, abonnement, trimmed) in enumerate(p.copies):
                if held is not None and (bid, dueslag) not in held:
                    continue  # another process has it (or had it)
                body = self.render(
                    p.besked.root, abonnement, trimmed, received, p.system, p.transaktions_id, in_place=i == last
                )
                by_dueslag[dueslag].append((bid, body))
        await self._publish(by_dueslag)
        return [(bid, d) for d, items in by_dueslag.items() for bid, _ in items]

    async def _publish(self, by_dueslag: dict[str, list[tuple[str, bytes]]]) -> None:
        try:
            await asyncio.gather(*(self.broker.publish(d, items) for d, items in by_dueslag.items()))
        except BrokerUnavailable:
            self._reconcile = True
            raise

    async def _relay_pending(self, limit: int = 100) -> int:
        """The database pass: publish pending copies (see BeskedStore.relay_pending)."""
        moved = await self.store.relay_pending(limit, self._fast_keys, self._publish_rows)
        if not moved:
            self._reconcile = False
        return moved

    async def _publish_rows(self, rows: list[Any]) -> list[int]:
        """Publish pending rows; the seqs the broker holds now. After trouble (and at start) first reconcile:
        copies already on their dueslag queue are not published again."""
        done: list[int] = []
        if self._reconcile:
            for dueslag in {lev.dueslag for lev in rows}:
                present = await self.broker.present(dueslag)
                done += [lev.seq for lev in rows if lev.dueslag == dueslag and lev.besked_id in present]
            self._reconcile = False
        by_dueslag: dict[str, list[tuple[str, bytes]]] = defaultdict(list)
        parsed: dict[str, etree._Element] = {}
        for lev in rows:
            if lev.seq in done:
                continue
            if lev.besked_id not in parsed:
                parsed[lev.besked_id] = etree.fromstring(lev.body.encode())
            by_dueslag[lev.dueslag].append(
                (
                    lev.besked_id,
                    self.render(
                        parsed[lev.besked_id],
                        lev.abonnement,
                        lev.tilladte_modtagere,
                        lev.received_at,
                        lev.system,
                        lev.transaktions_id,
                    ),
                )
            )
        seqs = {(lev.dueslag, lev.besked_id): lev.seq for lev in rows}
        await self._publish(by_dueslag)
        return done + [seqs[(d, bid)] for d, items in by_dueslag.items() for bid, _ in items]

    async def wait_distributed(self, timeout: float = 10.0) -> None:
        """Return once nothing accepted is still waiting to reach the broker (tests, bench)."""
        deadline = time.monotonic() + timeout
        while True:
            if not self.lane.pending and not await self.store.pending_count():
                return
            if time.monotonic() > deadline:
                raise TimeoutError("messages are still waiting to be distributed")
            self._relay_wake.set()
            await asyncio.sleep(0.02)


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)
