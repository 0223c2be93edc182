"""The exchange store: every read of recorded exchanges goes through here (the admin API, the UI, scenario
recording and replay), so a row becomes a dict in one place and every reader sees what was recorded
before it asked (the recorder's queue is flushed first)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, or_, select

from simulator.store import Database, ExchangeRow
from simulator.traffic.query import SUMMARY_COLUMNS, ExchangeFilter
from simulator.traffic.recorder import Recorder

COLUMNS = list(ExchangeRow.__table__.columns)
SEARCH_WINDOW = 20_000
"""A search term is looked for in the bodies of the newest this many exchanges (ids are looked up in all)."""


def _utc(out: dict[str, Any]) -> dict[str, Any]:
    """`started_at` as an aware UTC time (SQLite hands back naive UTC, PostgreSQL aware)."""
    at = out.get("started_at")
    if isinstance(at, datetime) and at.tzinfo is None:
        out["started_at"] = at.replace(tzinfo=UTC)
    return out


def _summary(row) -> dict[str, Any]:
    return _utc(dict(row._mapping))


def _full(row: ExchangeRow) -> dict[str, Any]:
    return _utc({c.name: getattr(row, c.name) for c in COLUMNS})


def _like(term: str) -> str:
    """`term` as a LIKE pattern that matches it anywhere, literally (escape character `\\`)."""
    return "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


class ExchangeStore:
    def __init__(self, db: Database, recorder: Recorder | None = None) -> None:
        self.db = db
        self.recorder = recorder

    async def _settled(self) -> None:
        if self.recorder is not None:
            await self.recorder.flush()

    async def page(self, f: ExchangeFilter, *, limit: int = 50, before: int | None = None) -> list[dict[str, Any]]:
        """Summaries (no bodies), newest first; `before` is the `seq` of the last row of the previous page."""
        await self._settled()
        q = f.apply(select(*SUMMARY_COLUMNS)).order_by(ExchangeRow.seq.desc()).limit(limit)
        if before is not None:
            q = q.where(ExchangeRow.seq < before)
        async with self.db.session() as s:
            return [_summary(r) for r in await s.execute(q)]

    async def search(
        self,
        f: ExchangeFilter,
        term: str,
        *,
        limit: int = 50,
        before: int | None = None,
        window: int = SEARCH_WINDOW,
    ) -> list[dict[str, Any]]:
        """Summaries, newest first, of the exchanges matching `f` whose id, correlation id, caller's call id
        or municipality equals `term`, or (among the newest `window`) whose bodies contain it."""
        await self._settled()
        t = ExchangeRow
        async with self.db.session() as s:
            newest = await s.scalar(select(func.max(t.seq))) or 0
            like = _like(term)
            body_hit = (t.seq > max(0, newest - window)) & (
                t.request_body.like(like, escape="\\") | t.response_body.like(like, escape="\\")
            )
            q = f.apply(select(*SUMMARY_COLUMNS)).where(
                or_(t.id == term, t.correlation_id == term, t.callers_call_id == term, t.municipality == term, body_hit)
            )
            if before is not None:
                q = q.where(t.seq < before)
            return [_summary(r) for r in await s.execute(q.order_by(t.seq.desc()).limit(limit))]

    async def count(self, f: ExchangeFilter) -> int:
        await self._settled()
        async with self.db.session() as s:
            return int(await s.scalar(f.apply(select(func.count()).select_from(ExchangeRow))) or 0)

    async def get(self, exchange_id: str) -> dict[str, Any] | None:
        """One exchange with its bodies, or None."""
        await self._settled()
        async with self.db.session() as s:
            row = await s.scalar(select(ExchangeRow).where(ExchangeRow.id == exchange_id))
        return None if row is None else _full(row)

    async def refusals(self, ids: list[str]) -> dict[str, str]:
        """The response bodies of those of `ids` that answered with a business refusal (query.OUTCOMES)."""
        if not ids:
            return {}
        t = ExchangeRow
        f = ExchangeFilter(outcome="refusal")
        async with self.db.session() as s:
            found = await s.execute(f.apply(select(t.id, t.response_body)).where(t.id.in_(ids)))
            return {r.id: r.response_body for r in found}

    async def rows(self, f: ExchangeFilter, *, settled: bool = True) -> list[dict[str, Any]]:
        """Every matching exchange with its bodies, oldest first (recording a scenario, waiting for a call).
        `settled=False` reads what is committed without waiting for the recorder's queue."""
        if settled:
            await self._settled()
        async with self.db.session() as s:
            found = await s.scalars(f.apply(select(ExchangeRow)).order_by(ExchangeRow.seq))
            return [_full(r) for r in found.all()]

    async def reset(self) -> int:
        """Forget every recorded exchange; returns how many there were."""
        await self._settled()
        async with self.db.session() as s, s.begin():
            result = await s.execute(delete(ExchangeRow))
        return int(result.rowcount or 0)
