"""Reading recorded exchanges: filters, keyset pagination, verification."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, delete, func, select

from simulator.store import Database, ExchangeRow, where_equal

SUMMARY_COLUMNS = [c for c in ExchangeRow.__table__.columns if c.name not in ("request_body", "response_body")]


@dataclass
class ExchangeFilter:
    service: str | None = None
    operation: str | None = None
    municipality: str | None = None
    system_uuid: str | None = None
    status: str | None = None
    fault_code: str | None = None
    decision: str | None = None
    origin: str | None = None
    session: str | None = None
    correlation_id: str | None = None  # ours or the caller's CallersServiceCallIdentifier
    since: datetime | None = None
    until: datetime | None = None

    def apply(self, q: Select) -> Select:
        t = ExchangeRow
        names = (
            "service",
            "operation",
            "municipality",
            "system_uuid",
            "status",
            "fault_code",
            "decision",
            "origin",
            "session",
        )
        q = where_equal(q, t, **{n: getattr(self, n) for n in names})
        if self.correlation_id:
            c = self.correlation_id
            q = q.where((t.correlation_id == c) | (t.callers_call_id == c) | (t.id == c))
        if self.since:
            q = q.where(t.started_at >= self.since)
        if self.until:
            q = q.where(t.started_at < self.until)
        return q


MAX_SEQ = 2**63 - 1  # the largest row number (seq) SQLite and PostgreSQL store; a larger `before` is refused


async def list_exchanges(db: Database, f: ExchangeFilter, *, limit: int = 50, before: int | None = None) -> list[dict]:
    """Newest first; `before` is the `seq` of the last row of the previous page (keyset pagination)."""
    q = f.apply(select(*SUMMARY_COLUMNS)).order_by(ExchangeRow.seq.desc()).limit(limit)
    if before is not None:
        q = q.where(ExchangeRow.seq < before)
    async with db.session() as s:
        return [dict(r._mapping) for r in (await s.execute(q))]


async def count_exchanges(db: Database, f: ExchangeFilter) -> int:
    async with db.session() as s:
        return int(await s.scalar(f.apply(select(func.count()).select_from(ExchangeRow))) or 0)


async def get_exchange(db: Database, exchange_id: str) -> dict | None:
    async with db.session() as s:
        row = (await s.execute(select(ExchangeRow).where(ExchangeRow.id == exchange_id))).scalar_one_or_none()
    if row is None:
        return None
    return {c.name: getattr(row, c.name) for c in ExchangeRow.__table__.columns}


async def reset_exchanges(db: Database) -> int:
    async with db.session() as s, s.begin():
        result = await s.execute(delete(ExchangeRow))
    return int(result.rowcount or 0)
