"""Which recorded exchanges a reader wants: the filter every listing, count and search is built from."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Select, or_

from simulator.store import ExchangeRow, where_equal

SUMMARY_COLUMNS = [c for c in ExchangeRow.__table__.columns if c.name not in ("request_body", "response_body")]
MAX_SEQ = 2**63 - 1  # the largest row number (seq) SQLite and PostgreSQL store; a larger `before` is refused
EQUAL_FIELDS = (
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
OUTCOMES = ("ok", "refusal", "fault")
"""What an exchange came to: answered and accepted, a business refusal (a Forretningskvittering AFVIST or
FEJLET in an answer the platform delivered), or a platform fault (a SOAP fault)."""
REFUSAL_MARKS = (">AFVIST<", ">FEJLET<")
"""How a refusing ForretningsValideringsKode reads in a response body."""


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
    other_than_session: str | None = None  # exchanges not tagged with this session (or untagged)
    outcome: str | None = None  # one of OUTCOMES

    def apply(self, q: Select) -> Select:
        """`q` narrowed to the matching exchanges (times compared in UTC: SQLite keeps UTC wall-clock times,
        so an aware time in another zone is converted first; a naive one is taken as UTC)."""
        t = ExchangeRow
        q = where_equal(q, t, **{n: getattr(self, n) for n in EQUAL_FIELDS})
        if self.correlation_id:
            c = self.correlation_id
            q = q.where((t.correlation_id == c) | (t.callers_call_id == c) | (t.id == c))
        if self.since:
            q = q.where(t.started_at >= _utc(self.since))
        if self.until:
            q = q.where(t.started_at < _utc(self.until))
        if self.outcome in OUTCOMES:
            refused = or_(*(t.response_body.like(f"%{m}%") for m in REFUSAL_MARKS))
            if self.outcome == "fault":
                q = q.where(t.status == "fault")
            else:
                q = q.where(t.status == "ok", refused if self.outcome == "refusal" else ~refused)
        if self.other_than_session:
            q = q.where((t.session != self.other_than_session) | t.session.is_(None))
        return q


def _utc(at: datetime) -> datetime:
    return at.astimezone(UTC) if at.tzinfo is not None else at.replace(tzinfo=UTC)
