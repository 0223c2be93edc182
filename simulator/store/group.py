"""Group commit: one writer task commits what concurrent callers submit, a batch per transaction.

A `GroupCommit` belongs to one database. Each kind of row gets a `Lane` (``group.lane(name, write_in)``);
callers ``await lane.submit(item)`` and get their item's outcome once its transaction is committed. The
writer takes what is queued (up to ``max_batch`` items, from every lane), opens ONE transaction
(`Database.transaction`: on SQLite one worker-thread hop) and calls each lane's ``write_in(conn, items)``,
which returns one outcome per item (a value, or an exception instance for that item alone: it is raised to
its caller) or None (every outcome None).

What can go wrong, and what happens:

- **The database is unavailable** (`simulator.store.db.unavailable`, or it does not answer a ping): the items
  of lanes made with ``retry_when_unavailable=True`` are kept and written once it is back (callers whose item
  ``answer_at_once(item)`` accepts are let go at once, the item still written later); the other lanes' callers
  get the error at once.
- **The database refuses something in the batch** (a value it cannot store, a constraint): the batch is
  written again one item per transaction, so the one it refuses fails alone and the others land. The refused
  item is handed to the lane's ``on_refused(conn, item, error)`` in a transaction of its own (write a
  marked-up replacement, look something up); what it returns is the item's outcome. Without the hook, the
  error is. Nothing is retried forever, and one item never fails its neighbours.
- **Shutdown** (`stop(timeout_s)`): waits up to the bound for what is queued, then gives up on the rest
  (its callers get `WriterStopped`) and returns how many items were not written.

`health()` says whether the writer keeps up: not ok while the database fails, or when the oldest item being
written has waited ``stuck_after_s`` or more (a lock held elsewhere, a database that stopped answering).

To adopt it: build the lane once (``self.lane = group.lane("my-rows", self._write_in, ...)``), keep
``_write_in`` synchronous and free of I/O other than the connection it is given, and ``await
self.lane.submit(item)`` where a loop of your own used to collect a batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from sqlalchemy import Connection

from simulator.store.db import Database, unavailable

log = logging.getLogger(__name__)
T = TypeVar("T")


class WriterStopped(RuntimeError):
    """The writer was stopped before this item could be written."""


@dataclass(eq=False)
class _Entry:
    lane: Lane
    item: Any
    future: asyncio.Future | None
    at: float = field(default_factory=time.monotonic)


class Lane(Generic[T]):
    """One kind of item a GroupCommit writes (exchange rows, bookings, …)."""

    def __init__(
        self,
        group: GroupCommit,
        name: str,
        write_in: Callable[[Connection, list[T]], Sequence[Any] | None],
        *,
        retry_when_unavailable: bool,
        answer_at_once: Callable[[T], bool] | None,
        on_refused: Callable[[Connection, T, BaseException], Any] | None,
        after_commit: Callable[[list[T]], None] | None,
    ) -> None:
        self.group = group
        self.name = name
        self.write_in = write_in
        self.retry_when_unavailable = retry_when_unavailable
        self.answer_at_once = answer_at_once
        self.on_refused = on_refused
        self.after_commit = after_commit
        self.submitted = 0
        self.settled = 0
        self.refused = 0

    async def submit(self, item: T, *, wait: bool = True) -> Any:
        """Queue one item (waiting while the queue is full); with `wait`, return its outcome once committed
        (raise it, when it is an exception)."""
        return await self.group._submit(self, item, wait)

    @property
    def pending(self) -> int:
        return self.submitted - self.settled

    async def flush(self) -> None:
        """Return once every item submitted before this call is written (or refused, or given up)."""
        target = self.submitted
        async with self.group._progress:
            await self.group._progress.wait_for(lambda: self.settled >= target)


class GroupCommit:
    """The one writer of a database: batches from every lane, one transaction per batch."""

    def __init__(
        self,
        db: Database,
        *,
        name: str = "db-writer",
        max_batch: int = 500,
        queue_size: int = 20_000,
        stuck_after_s: float = 5.0,
    ) -> None:
        self.db = db
        self.name = name
        self.max_batch = max_batch
        self.stuck_after_s = stuck_after_s
        self.lanes: list[Lane] = []
        self.last_error: str | None = None
        self._queue: asyncio.Queue[_Entry] = asyncio.Queue(maxsize=queue_size)
        self._carry: list[_Entry] = []  # kept for a retry while the database is unavailable
        self._writing: list[_Entry] = []
        self._progress = asyncio.Condition()
        self._task: asyncio.Task | None = None
        self._stopped = False

    def lane(
        self,
        name: str,
        write_in: Callable[[Connection, list[T]], Sequence[Any] | None],
        *,
        retry_when_unavailable: bool = False,
        answer_at_once: Callable[[T], bool] | None = None,
        on_refused: Callable[[Connection, T, BaseException], Any] | None = None,
        after_commit: Callable[[list[T]], None] | None = None,
    ) -> Lane[T]:
        """A new lane; within a transaction, lanes write in the order they were made."""
        lane = Lane(
            self,
            name,
            write_in,
            retry_when_unavailable=retry_when_unavailable,
            answer_at_once=answer_at_once,
            on_refused=on_refused,
            after_commit=after_commit,
        )
        self.lanes.append(lane)
        return lane

    async def start(self) -> None:
        if self._task is None or self._task.done():
            self._stopped = False
            self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self, timeout_s: float = 5.0) -> int:
        """Write what is queued, waiting at most `timeout_s`; then give up on the rest (its callers get
        WriterStopped). Returns how many items were not written."""
        self._stopped = True
        if self._task is None:
            return 0
        try:
            async with asyncio.timeout(timeout_s):
                for lane in self.lanes:
                    await lane.flush()
        except TimeoutError:
            log.warning("%s: stopping with %d item(s) not written after %.0f s", self.name, self.pending, timeout_s)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            async with asyncio.timeout(1.0):
                await self._task
        self._task = None
        lost = self._writing + self._carry
        while not self._queue.empty():
            lost.append(self._queue.get_nowait())
        self._writing, self._carry = [], []
        await self._settle([(e, WriterStopped(f"{self.name} stopped before this was written")) for e in lost])
        return len(lost)

    @property
    def pending(self) -> int:
        return sum(lane.pending for lane in self.lanes)

    def health(self) -> dict[str, Any]:
        """`ok` is false while the database fails or when the oldest item being written has waited
        `stuck_after_s` or more; `oldest_wait_s` is how long that item has waited."""
        waiting = self._writing or self._carry
        oldest = round(time.monotonic() - waiting[0].at, 3) if waiting else 0.0
        running = self._task is not None and not self._task.done()
        return {
            "ok": (running or self.pending == 0) and self.last_error is None and oldest < self.stuck_after_s,
            "pending": self.pending,
            "oldest_wait_s": oldest,
            "last_error": self.last_error,
            "lanes": {lane.name: {"pending": lane.pending, "refused": lane.refused} for lane in self.lanes},
        }

    # -- the writer ---------------------------------------------------------------------------------

    async def _submit(self, lane: Lane, item: Any, wait: bool) -> Any:
        if self._stopped:
            raise WriterStopped(f"{self.name} is stopped")
        if self._task is None or self._task.done():
            await self.start()
        future = asyncio.get_running_loop().create_future() if wait else None
        lane.submitted += 1
        await self._queue.put(_Entry(lane, item, future))
        if future is not None:
            # a cancelled caller cancels only its future: the item is still written (_settle skips it)
            return await future
        return None

    async def _run(self) -> None:
        delay = 0.1
        while True:
            batch, self._carry = self._carry, []
            if not batch:
                batch.append(await self._queue.get())
            while len(batch) < self.max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            self._writing = batch
            done, left, error = await self._commit(batch)
            self._writing = []
            await self._settle(done)
            if error is None:
                self.last_error = None
                delay = 0.1
                continue
            self.last_error = f"{type(error).__name__}: {error}"[:500]
            log.warning("%s: the database is unavailable (%s); retrying in %.1f s", self.name, error, delay)
            failed = [(e, error) for e in left if not e.lane.retry_when_unavailable]
            self._carry = [e for e in left if e.lane.retry_when_unavailable]
            for e in self._carry:
                if e.future is not None and e.lane.answer_at_once is not None and e.lane.answer_at_once(e.item):
                    if not e.future.done():
                        e.future.set_result(None)
            await self._settle(failed)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)

    async def _commit(self, batch: list[_Entry]) -> tuple[list[tuple[_Entry, Any]], list[_Entry], BaseException | None]:
        """Write `batch`. Returns (entries done with their outcomes, entries left, the error that left them:
        the database became unavailable)."""
        try:
            outcomes = await self.db.transaction(functools.partial(_write_in, lanes=self.lanes, batch=batch))
            return list(zip(batch, outcomes, strict=True)), [], None
        except Exception as e:  # noqa: BLE001 - sorted out below
            if await self._unavailable(e):
                return [], batch, e
            error = e
        if len(batch) == 1:
            return [(batch[0], await self._refused(batch[0], error))], [], None
        done: list[tuple[_Entry, Any]] = []
        for i, entry in enumerate(batch):  # one per transaction: only the refused one fails
            one, left, error = await self._commit([entry])
            done += one
            if error is not None:
                return done, batch[i:], error
        return done, [], None

    async def _unavailable(self, error: BaseException) -> bool:
        return unavailable(error) or not await self.db.ping()

    async def _refused(self, entry: _Entry, error: BaseException) -> Any:
        lane = entry.lane
        lane.refused += 1
        log.warning("%s: the database refused an item of %s: %s", self.name, lane.name, str(error)[:300])
        if lane.on_refused is None:
            return error
        try:
            return await self.db.transaction(lambda conn: lane.on_refused(conn, entry.item, error))
        except Exception as e:  # noqa: BLE001 - the item's outcome
            log.warning("%s: %s could not handle the refused item either: %s", self.name, lane.name, str(e)[:300])
            return e

    async def _settle(self, done: list[tuple[_Entry, Any]]) -> None:
        if not done:
            return
        for entry, outcome in done:
            f = entry.future
            if f is not None and not f.done():
                if isinstance(outcome, BaseException):
                    f.set_exception(outcome)
                else:
                    f.set_result(outcome)
            elif f is None and isinstance(outcome, BaseException) and not isinstance(outcome, WriterStopped):
                log.warning("%s: an item of %s was not written: %s", self.name, entry.lane.name, outcome)
            entry.lane.settled += 1
        for lane in self.lanes:
            if lane.after_commit is not None:
                items = [e.item for e, outcome in done if e.lane is lane and not isinstance(outcome, BaseException)]
                if items:
                    try:
                        lane.after_commit(items)
                    except Exception:  # noqa: BLE001 - a listener never stops the writer
                        log.exception("%s: after_commit of %s failed", self.name, lane.name)
        async with self._progress:
            self._progress.notify_all()


def _write_in(conn: Connection, *, lanes: list[Lane], batch: list[_Entry]) -> list[Any]:
    """One transaction: each lane writes its items (lanes in order), outcomes in the batch's order."""
    outcomes: dict[int, Any] = {}
    for lane in lanes:
        mine = [e for e in batch if e.lane is lane]
        if not mine:
            continue
        out = lane.write_in(conn, [e.item for e in mine])
        for i, e in enumerate(mine):
            outcomes[id(e)] = None if out is None else out[i]
    return [outcomes[id(e)] for e in batch]
