"""Recording of exchanges through the database's group commit (`simulator.store.GroupCommit`).

`record()` enqueues (it waits when the queue is full: back-pressure, never loss). With `durable=True` (the
default) it returns only once its row is committed — the caller answers only what is on disk, while
concurrent calls share one transaction. While the database is unavailable rows are kept and written when it
is back, and a fault (`status == "fault"`) does not wait: it tells its caller that nothing was done, so it is
answered at once. A row the database refuses is written on its own with the problem marked (its bodies
replaced by a note, `violations` saying why), never retried forever, never failing its batch. Text a
database cannot store (NUL, lone surrogates) is made storable before it is queued (`storable`), the same on
SQLite and PostgreSQL, and the row says so. `flush()` waits until everything enqueued so far is written.
Retention keeps the newest `retention` rows and, with `retention_s`, deletes rows older than that: on start, then
at most once a minute (or a tenth of `retention_s`) while exchanges are written.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select

from simulator.store import Database, ExchangeRow
from simulator.store.bulk import BulkInsert
from simulator.store.group import GroupCommit, WriterStopped
from simulator.store.text import storable

log = logging.getLogger(__name__)

TRUNCATION_MARKER = "\n<!-- simulator: body truncated at {limit} of {size} bytes -->"


def truncate_body(body: bytes | str, limit: int) -> tuple[str, bool]:
    """The body as text, cut to `limit` bytes with a visible marker when longer."""
    raw = body if isinstance(body, bytes) else body.encode("utf-8", "replace")
    if len(raw) <= limit:
        return raw.decode("utf-8", "replace"), False
    cut = raw[:limit].decode("utf-8", "ignore")
    return cut + TRUNCATION_MARKER.format(limit=limit, size=len(raw)), True


STORE_NOTE = "recording: {what}"


class Recorder:
    def __init__(
        self,
        db: Database,
        *,
        batch_size: int = 500,
        interval_s: float = 0.05,
        retention: int = 200_000,
        retention_s: float | None = None,
        queue_size: int = 20_000,
        durable: bool = True,
        table=ExchangeRow,
        group: GroupCommit | None = None,
    ) -> None:
        self.durable = durable
        self.db = db
        self.table = table
        self.batch_size = batch_size
        self.retention = retention
        self.retention_s = retention_s
        self._aged_at = 0.0  # time.monotonic() of the last prune by age
        self._own_group = group is None
        self.group = group or GroupCommit(db, name="exchange-recorder", max_batch=batch_size, queue_size=queue_size)
        self.lane = self.group.lane(
            "exchanges",
            self._write_in,
            retry_when_unavailable=True,
            answer_at_once=_is_fault,
            on_refused=self._write_marked,
            after_commit=self._notify,
        )
        self._insert = BulkInsert(table.__table__)
        self._since_prune = 0
        self.listeners: list[Callable[[dict[str, Any]], None]] = []

    async def start(self) -> None:
        await self.group.start()
        await self.prune_expired()

    async def prune_expired(self) -> None:
        """Delete the exchanges older than `retention_s` now (the runtime calls it on start)."""
        if self.retention_s:
            await self.db.transaction(self._prune_by_age)

    async def record(self, row: dict[str, Any]) -> None:
        """Enqueue one row; when durable, return once it is committed (or kept for when the database is
        back, for a fault while it is unavailable)."""
        _make_storable(row)
        try:
            await self.lane.submit(row, wait=self.durable)
        except WriterStopped:
            log.warning("exchange %s not recorded: the recorder is stopped", row.get("id"))
        except Exception as e:  # noqa: BLE001 - the caller is answered; the writer logged what happened
            log.warning("exchange %s not recorded: %s", row.get("id"), e)

    @property
    def pending(self) -> int:
        return self.lane.pending

    @property
    def last_error(self) -> str | None:
        return self.group.last_error

    async def flush(self) -> None:
        """Return once every row enqueued before this call is in the database."""
        await self.lane.flush()

    async def stop(self, timeout_s: float = 5.0) -> None:
        if self._own_group:
            await self.group.stop(timeout_s)

    def write_rows(self, conn, rows: list[dict[str, Any]]) -> None:
        """Write finished rows in a transaction another lane of the writer runs (a CommittedAnswer's: the
        exchange goes in with the work it answers); call `committed(rows)` once that transaction is committed."""
        for row in rows:
            _make_storable(row)
        self._write_in(conn, rows)

    def committed(self, rows: list[dict[str, Any]]) -> None:
        """Tell the listeners (live feed, metrics) about rows `write_rows` wrote, once they are committed."""
        self._notify(rows)

    def _write_in(self, conn, batch: list[dict[str, Any]]) -> None:
        """Insert a batch (one driver-level executemany) and, now and then, apply retention."""
        table = self.table.__table__
        self._insert(conn, batch)
        self._since_prune += len(batch)
        if self.retention and self._since_prune >= max(self.batch_size, self.retention // 200):
            self._since_prune = 0
            newest = conn.scalar(select(func.max(table.c.seq)))
            if newest is not None and newest > self.retention:
                conn.execute(delete(table).where(table.c.seq <= newest - self.retention))
        if self.retention_s and time.monotonic() - self._aged_at >= min(60.0, self.retention_s / 10):
            self._prune_by_age(conn)

    def _prune_by_age(self, conn) -> None:
        """Delete the exchanges started more than `retention_s` ago."""
        self._aged_at = time.monotonic()
        table = self.table.__table__
        cutoff = datetime.now(UTC) - timedelta(seconds=self.retention_s or 0)
        conn.execute(delete(table).where(table.c.started_at < cutoff))

    def _write_marked(self, conn, row: dict[str, Any], error: BaseException) -> None:
        """The database refused this row: record it with its bodies replaced by a note and the reason in
        `violations` (the row is changed in place, so listeners see what was written)."""
        why = f"the database refused the exchange as sent ({type(error).__name__}: {str(error)[:200]})"
        note = f"<!-- simulator: body not stored: {why} -->"
        row.update(request_body=note, response_body=note, request_truncated=True, response_truncated=True)
        row["violations"] = [*(row.get("violations") or []), STORE_NOTE.format(what=why)]
        _make_storable(row)
        self._insert(conn, [row])

    def _notify(self, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            for listener in self.listeners:
                try:
                    listener(row)
                except Exception:  # noqa: BLE001 - a listener never stops recording
                    log.exception("traffic listener failed")


def _make_storable(row: dict[str, Any]) -> None:
    """Text a database cannot store, replaced in place; the row's `violations` say where."""
    changed = []
    for key, value in row.items():
        if isinstance(value, str):
            fixed = storable(value)
            if fixed is not value:
                row[key] = fixed
                changed.append(key)
    if changed:
        row["violations"] = [
            *(row.get("violations") or []),
            STORE_NOTE.format(
                what=f"{', '.join(changed)} held characters a database cannot store (NUL, lone surrogates), "
                "recorded as U+FFFD"
            ),
        ]


def _is_fault(row: dict[str, Any]) -> bool:
    return row.get("status") == "fault"
