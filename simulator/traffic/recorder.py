"""Asynchronous, batched recording of exchanges, off the request path.

`record()` enqueues (it waits when the queue is full: back-pressure, never loss); one writer task
drains the queue in batches into the database, retrying a failed batch until it lands. With
`durable=True` (the default) `record()` returns only once its batch is committed — group commit: the
caller answers only what is on disk, while concurrent calls still share one transaction. While the
database fails, a fault (`status == "fault"`) does not wait: it tells its caller that nothing was done, so it
is answered at once and written when the database is back. `flush()` waits until everything enqueued so far
is written; `stop()` flushes before it returns. Retention keeps the newest `retention` rows.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import delete, func, insert, select

from simulator.store import Database, ExchangeRow

log = logging.getLogger(__name__)

TRUNCATION_MARKER = "\n<!-- simulator: body truncated at {limit} of {size} bytes -->"


def truncate_body(body: bytes | str, limit: int) -> tuple[str, bool]:
    """The body as text, cut to `limit` bytes with a visible marker when longer."""
    raw = body if isinstance(body, bytes) else body.encode("utf-8", "replace")
    if len(raw) <= limit:
        return raw.decode("utf-8", "replace"), False
    cut = raw[:limit].decode("utf-8", "ignore")
    return cut + TRUNCATION_MARKER.format(limit=limit, size=len(raw)), True


class Recorder:
    def __init__(
        self,
        db: Database,
        *,
        batch_size: int = 500,
        interval_s: float = 0.05,
        retention: int = 200_000,
        queue_size: int = 20_000,
        durable: bool = True,
        table=ExchangeRow,
    ) -> None:
        self.durable = durable
        self.db = db
        self.table = table
        self.batch_size = batch_size
        self.interval_s = interval_s
        self.retention = retention
        self._queue: asyncio.Queue[tuple[dict[str, Any], asyncio.Future | None]] = asyncio.Queue(maxsize=queue_size)
        self._enqueued = 0
        self._written = 0
        self._since_prune = 0
        self._progress = asyncio.Condition()
        self._task: asyncio.Task | None = None
        self.listeners: list[Callable[[dict[str, Any]], None]] = []
        self.last_error: str | None = None

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="exchange-recorder")

    async def record(self, row: dict[str, Any]) -> None:
        """Enqueue one row; when durable, return once it is committed."""
        self._enqueued += 1
        wait = self.durable and not (self.last_error is not None and _is_fault(row))
        done = asyncio.get_running_loop().create_future() if wait else None
        await self._queue.put((row, done))
        if done is not None:
            await asyncio.shield(done)

    @property
    def pending(self) -> int:
        return self._enqueued - self._written

    async def flush(self) -> None:
        """Return once every row enqueued before this call is in the database."""
        target = self._enqueued
        async with self._progress:
            await self._progress.wait_for(lambda: self._written >= target)

    async def stop(self) -> None:
        if self._task is None:
            return
        await self.flush()
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass
        self._task = None

    async def _run(self) -> None:
        while True:
            items = [await self._queue.get()]
            if self.interval_s and not self.durable and self._queue.qsize() < self.batch_size:
                await asyncio.sleep(self.interval_s)  # let a batch gather
            while len(items) < self.batch_size and not self._queue.empty():
                items.append(self._queue.get_nowait())
            batch = [row for row, _ in items]
            await self._write(batch, faults=[done for row, done in items if done is not None and _is_fault(row)])
            for _, done in items:
                if done is not None and not done.done():
                    done.set_result(None)
            async with self._progress:
                self._written += len(batch)
                self._progress.notify_all()
            for row in batch:
                for listener in self.listeners:
                    try:
                        listener(row)
                    except Exception:  # noqa: BLE001 - a listener never stops recording
                        log.exception("traffic listener failed")

    async def _write(self, batch: list[dict[str, Any]], faults: Sequence[asyncio.Future] = ()) -> None:
        """Write the batch, retrying until it lands; on a failure, the callers of `faults` are let go."""
        delay = 0.1
        while True:
            try:
                prune = bool(self.retention) and self._since_prune + len(batch) >= max(
                    self.batch_size, self.retention // 200
                )
                await self.db.transaction(functools.partial(self._write_in, batch=batch, prune=prune))
                self._since_prune = 0 if prune else self._since_prune + len(batch)
                self.last_error = None
                return
            except Exception as e:  # noqa: BLE001 - keep the batch and retry: nothing is dropped
                self.last_error = f"{type(e).__name__}: {e}"
                log.warning("recording batch of %d failed (%s); retrying in %.1fs", len(batch), e, delay)
                for done in faults:
                    if not done.done():
                        done.set_result(None)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)

    def _write_in(self, conn, *, batch: list[dict[str, Any]], prune: bool) -> None:
        """Insert a batch (Core, not the ORM: the cheapest insert) and, now and then, apply retention."""
        table = self.table.__table__
        conn.execute(insert(table), batch)
        if prune:
            newest = conn.scalar(select(func.max(table.c.seq)))
            if newest is not None and newest > self.retention:
                conn.execute(delete(table).where(table.c.seq <= newest - self.retention))


def _is_fault(row: dict[str, Any]) -> bool:
    return row.get("status") == "fault"
