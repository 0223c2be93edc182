"""The outbox: the writer stores accepted messages in batches (a message is answered once its batch is
committed) and the relay publishes each stored copy to its dueslag on the broker.

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
from sqlalchemy.exc import IntegrityError

from simulator.beskedfordeler import kuvert as kv
from simulator.beskedfordeler.answers import Retur
from simulator.beskedfordeler.broker import Broker, BrokerUnavailable
from simulator.beskedfordeler.store import BeskedStore

if TYPE_CHECKING:
    from simulator.beskedfordeler.accept import Prepared
    from simulator.serviceplatform import RouteTable

log = logging.getLogger(__name__)

FORDELINGSSYSTEM = "256e1a88-396f-43fc-8353-a35f5cfd49b9"
"""UUID the simulated Beskedfordeler puts in Leverancerute/Fordelingssystem."""


class Outbox:
    def __init__(self, store: BeskedStore, broker: Broker, routes: RouteTable, *, queue_size: int = 20_000) -> None:
        self.store = store
        self.broker = broker
        self.routes = routes
        self.incoming: asyncio.Queue[Prepared] = asyncio.Queue(maxsize=queue_size)
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
        self._tasks = [
            asyncio.create_task(self._writer(), name="bf-writer"),
            asyncio.create_task(self._relay(), name="bf-relay"),
        ]

    async def stop(self, timeout: float = 30) -> None:
        """Let what was accepted reach the database, then stop."""
        deadline = time.monotonic() + timeout
        while not self.incoming.empty() and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t

    async def submit(self, prepared: Prepared) -> Retur:
        """Queue a checked message for the writer; its answer once stored (or refused)."""
        if self.incoming.full():
            await self.incoming.put(prepared)
        else:
            self.incoming.put_nowait(prepared)
        return await prepared.future

    # -- writer ------------------------------------------------------------------------------------------

    async def _writer(self) -> None:
        while True:
            batch = [await self.incoming.get()]
            while len(batch) < 500 and not self.incoming.empty():
                batch.append(self.incoming.get_nowait())
            fast, epoch = self._fast_on, self._fast_epoch
            keys = [(p.besked.besked_id, d) for p in batch for d, _, _ in p.copies] if fast else []
            # claimed before the commit: once the rows are visible the database pass must leave them alone
            self._fast_keys.update(keys)
            stored: list[Prepared] = []
            now = datetime.now(UTC)
            try:
                try:
                    stored = await self._persist(batch, now)
                except IntegrityError:
                    # SQLite: another process stored one of these BeskedIds a moment ago; once more, and it is a
                    # repeat (PostgreSQL inserts ON CONFLICT DO NOTHING and needs no second try)
                    stored = await self._persist(batch, now)
            except Exception as e:  # noqa: BLE001 - answer 50: nothing of the batch was accepted
                log.exception("persisting %d messages failed", len(batch))
                for p in batch:
                    if not p.future.done():
                        p.future.set_result(Retur(50, "INTERN_FEJL", f"storing the message failed: {e}"))
            if fast and self._fast_on and self._fast_epoch == epoch:  # claimed all along: the fast path has them
                mine = {(p.besked.besked_id, d) for p in stored for d, _, _ in p.copies}
                self._fast_keys.difference_update(k for k in keys if k not in mine)
                self._fast.extend((p, now) for p in stored if p.copies)
            else:
                self._fast_keys.difference_update(keys)
            self._relay_wake.set()

    async def _persist(self, batch: list[Prepared], now: datetime) -> list[Prepared]:
        """Store a batch in one transaction, then answer each message: 20 when stored (or a repeat of a
        stored one), 40 for a reused BeskedId. Returns the messages stored now (not the repeats)."""
        stored = []
        for p, r, new in await self.store.persist(batch, now):
            if new:
                stored.append(p)
            if not p.future.done():
                p.future.set_result(r)
        return stored

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
            if self.incoming.empty() and not await self.store.pending_count():
                return
            if time.monotonic() > deadline:
                raise TimeoutError("messages are still waiting to be distributed")
            self._relay_wake.set()
            await asyncio.sleep(0.02)


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)
