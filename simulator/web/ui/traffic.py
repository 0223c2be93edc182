"""Traffic (`/`): recorded exchanges, newest first, keyset-paged, filterable, with instant search and a live
feed over server-sent events (`/ui/traffic/stream`, sse-starlette)."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup
from sse_starlette import EventSourceResponse, ServerSentEvent

from simulator.traffic import ExchangeFilter
from simulator.traffic.query import MAX_SEQ, OUTCOMES
from simulator.web.deps import RuntimeDep
from simulator.web.ui.common import page_router, refusals, render, templates
from simulator.web.ui.outcome import LABELS, outcome_of, outcomes_of

router = page_router()

PAGE_SIZE = 50
FEED_BUFFER = 1_000  # exchanges kept in memory to replay to a reconnecting live list
STREAM_SECONDS = 15.0  # an SSE response ends after this long; the browser reconnects (Last-Event-ID)
KEEPALIVE_SECONDS = 5.0
FILTER_FIELDS = ("service", "operation", "municipality", "system_uuid", "status", "decision", "origin", "outcome")
_DIGITS = re.compile(r"(?<!\d)(\d{10}|\d{8})(?!\d)")


@dataclass
class TrafficQuery:
    """The traffic page's filters, from the query string."""

    service: str | None = None
    operation: str | None = None
    municipality: str | None = None
    system_uuid: str | None = None
    status: str | None = None
    decision: str | None = None
    origin: str | None = None
    outcome: str | None = None  # ok | refusal | fault (simulator.web.ui.outcome)
    since: datetime | None = None
    until: datetime | None = None
    q: str | None = None
    before: int | None = None
    problems: list[str] = field(default_factory=list)

    @classmethod
    def from_request(cls, request: Request) -> TrafficQuery:
        p = request.query_params
        out = cls(**{k: (p.get(k) or "").strip() or None for k in FILTER_FIELDS})
        if out.outcome and out.outcome not in OUTCOMES:
            out.problems.append(f"outcome: '{out.outcome}' is not one of {', '.join(OUTCOMES)}")
        out.q = (p.get("q") or "").strip() or None
        for name in ("since", "until"):
            raw = (p.get(name) or "").strip()
            if raw:
                try:
                    dt = datetime.fromisoformat(raw)
                    setattr(out, name, dt if dt.tzinfo else dt.replace(tzinfo=UTC))
                except ValueError:
                    out.problems.append(f"{name}: '{raw}' is not a date-time")
        raw = (p.get("before") or "").strip()
        if raw:
            if raw.isdigit() and int(raw) <= MAX_SEQ:
                out.before = int(raw)
            else:
                out.problems.append(f"before: '{raw}' is not a row number")
        return out

    def to_filter(self) -> ExchangeFilter:
        return ExchangeFilter(**{k: getattr(self, k) for k in FILTER_FIELDS}, since=self.since, until=self.until)

    def params(self, **over: Any) -> dict[str, str]:
        out = {k: getattr(self, k) for k in FILTER_FIELDS if getattr(self, k)}
        for name in ("since", "until"):
            if getattr(self, name):
                out[name] = getattr(self, name).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
        if self.q:
            out["q"] = self.q
        out |= {k: v for k, v in over.items() if v is not None}
        return {k: str(v) for k, v in out.items()}

    def matches(self, row: dict[str, Any], digits: frozenset[str]) -> bool:
        """Does a freshly recorded exchange belong in this filtered list (the live feed)?"""
        for k in FILTER_FIELDS:
            want = getattr(self, k)
            if want is not None and row.get(k) != want:
                return False
        started = row.get("started_at")
        if isinstance(started, datetime):
            started = started if started.tzinfo else started.replace(tzinfo=UTC)
            if (self.since and started < self.since) or (self.until and started >= self.until):
                return False
        if self.q:
            q = self.q
            ids = (row.get("id"), row.get("correlation_id"), row.get("callers_call_id"), row.get("municipality"))
            if q not in ids and q not in digits:
                return False
        return True


async def search_exchanges(rt, tq: TrafficQuery, *, limit: int = PAGE_SIZE) -> list[dict]:
    """Filtered exchanges, newest first, each with its `outcome`; with a search term, those whose ids or
    municipality equal it or whose bodies (among the newest exchanges) contain it."""
    if tq.q:
        rows = []
        for term in await _terms(rt, tq.q):
            rows += await rt.exchanges.search(tq.to_filter(), term, limit=limit, before=tq.before)
        rows = sorted({r["id"]: r for r in rows}.values(), key=lambda r: -r["seq"])[:limit]
    else:
        rows = await rt.exchanges.page(tq.to_filter(), limit=limit, before=tq.before)
    outcomes = await outcomes_of(rt, rows)
    return [r | {"outcome": outcomes[r["id"]].kind, "outcome_label": outcomes[r["id"]].label} for r in rows]


async def _terms(rt, q: str) -> list[str]:
    """What a search looks for: the term, and for a KY debtor account also its claims (a coverage names only
    its claim)."""
    from simulator.ky.ledger import KyLedger

    ledger = rt.find(KyLedger)
    if ledger is None or len(q) != 36:
        return [q]
    try:
        account = await ledger.account(q)
    except refusals():
        return [q]
    return [q, *(c["uuid"] for c in account["claims"])]


# -- the live feed ---------------------------------------------------------------------------------------


@dataclass(eq=False)
class _Subscriber:
    query: TrafficQuery
    queue: asyncio.Queue = field(default_factory=lambda: asyncio.Queue(maxsize=500))
    overflow: bool = False


class TrafficFeed:
    """Fans recorded exchanges out to the live lists. One recorder listener per runtime; it keeps the
    last FEED_BUFFER summaries (without bodies) so a reconnecting browser misses nothing."""

    def __init__(self) -> None:
        self.counter = 0
        self.buffer: deque[tuple[int, dict[str, Any], frozenset[str]]] = deque(maxlen=FEED_BUFFER)
        self.subscribers: set[_Subscriber] = set()

    def __call__(self, row: dict[str, Any]) -> None:
        self.counter += 1
        summary = {k: v for k, v in row.items() if k not in ("request_body", "response_body")}
        o = outcome_of(row, row.get("response_body"))
        summary |= {"outcome": o.kind, "outcome_label": o.label}
        digits = frozenset(
            _DIGITS.findall(row.get("request_body") or "") + _DIGITS.findall(row.get("response_body") or "")
        )
        entry = (self.counter, summary, digits)
        self.buffer.append(entry)
        for sub in list(self.subscribers):
            if sub.query.matches(summary, digits):
                try:
                    sub.queue.put_nowait(entry)
                except asyncio.QueueFull:
                    sub.overflow = True


def feed_of(rt) -> TrafficFeed:
    """The UI's live traffic feed: one per runtime, listening to the recorder from its first use."""
    feed = next((x for x in rt.recorder.listeners if isinstance(x, TrafficFeed)), None)
    if feed is None:
        feed = TrafficFeed()
        rt.recorder.listeners.append(feed)
    return feed


# -- pages -------------------------------------------------------------------------------------------------


def _rows_html(rt, rows: list[dict], *, live: bool = False) -> str:
    systems = {s.uuid: s.key for s in rt.routes.systems.values()}
    return templates.get_template("_rows.html").render(rows=rows, systems=systems, live=live)


def _context(rt, tq: TrafficQuery) -> dict[str, Any]:
    ops = sorted({op for s in rt.routes.services.values() for op in _operations(rt, s.name)})
    return {
        "tq": tq,
        "services": sorted(rt.routes.services),
        "operations": ops,
        "municipalities": list(rt.routes.municipalities.values()),
        "systems": list(rt.routes.systems.values()),
        "outcomes": LABELS,
        "decisions": ["routed", "handled", "accepted", "refused", "injected", "provider-fault"],
        "origins": sorted({"http", "ky", "klassifikation", "beskedfordeler", *[c.name for c in rt.components]}),
    }


def _operations(rt, service: str) -> list[str]:
    s = rt.routes.services.get(service)
    contract = rt.pipeline.contract_for(s) if s else None
    return list(contract.operations) if contract is not None else []


async def _page(rt, tq: TrafficQuery) -> tuple[list[dict], int | None]:
    if tq.problems:
        return [], None
    rows = await search_exchanges(rt, tq)
    return rows, rows[-1]["seq"] if len(rows) == PAGE_SIZE else None


@router.get("/", response_class=HTMLResponse)
@router.get("/ui/traffic", response_class=HTMLResponse)
async def traffic(request: Request, rt: RuntimeDep) -> HTMLResponse:
    tq = TrafficQuery.from_request(request)
    since = feed_of(rt).counter  # rows after this may also be in the page; the browser drops duplicates
    rows, next_before = await _page(rt, tq)
    return render(
        request,
        "traffic.html",
        "traffic",
        rows=rows,
        rows_html=Markup(_rows_html(rt, rows)),
        next_before=next_before,
        feed_since=since,
        live=tq.before is None,
        older_url=f"/?{urlencode(tq.params(before=next_before))}" if next_before else None,
        newest_url=f"/?{urlencode(tq.params())}",
        stream_url=f"/ui/traffic/stream?{urlencode(tq.params())}",
        **_context(rt, tq),
    )


@router.get("/ui/traffic/rows")
async def traffic_rows(request: Request, rt: RuntimeDep) -> Response:
    """The list's rows and pager for the instant search (JSON with HTML parts)."""
    tq = TrafficQuery.from_request(request)
    since = feed_of(rt).counter
    rows, next_before = await _page(rt, tq)
    return Response(
        json.dumps(
            {
                "rows": _rows_html(rt, rows),
                "count": len(rows),
                "problems": tq.problems,
                "older_url": f"/?{urlencode(tq.params(before=next_before))}" if next_before else None,
                "stream_url": f"/ui/traffic/stream?{urlencode(tq.params())}&since={since}",
                "page_url": f"/?{urlencode(tq.params())}",
            }
        ),
        media_type="application/json",
    )


@router.get("/ui/traffic/stream")
async def traffic_stream(request: Request, rt: RuntimeDep) -> EventSourceResponse:
    """Server-sent events: `exchange` events carry a table row (HTML) for each new exchange that matches
    the filters. Ends after STREAM_SECONDS; the browser reconnects with Last-Event-ID."""
    tq = TrafficQuery.from_request(request)
    feed = feed_of(rt)
    last = request.headers.get("last-event-id") or request.query_params.get("since") or ""
    last_id = int(last) if last.isdigit() else feed.counter
    if last_id > feed.counter:  # the simulator restarted since: replay nothing
        last_id = feed.counter
    sub = _Subscriber(tq)
    feed.subscribers.add(sub)

    def event(entry: tuple[int, dict, frozenset]) -> ServerSentEvent:
        return ServerSentEvent(_rows_html(rt, [entry[1]], live=True).strip(), event="exchange", id=str(entry[0]))

    async def stream() -> AsyncIterator[ServerSentEvent]:
        try:
            yield ServerSentEvent(str(last_id), event="hello", id=str(last_id), retry=500)
            sent = last_id
            for entry in list(feed.buffer):
                if entry[0] > sent and tq.matches(entry[1], entry[2]):
                    yield event(entry)
                    sent = entry[0]
            deadline = time.monotonic() + STREAM_SECONDS
            while (left := deadline - time.monotonic()) > 0:
                try:
                    entry = await asyncio.wait_for(sub.queue.get(), timeout=left)
                except TimeoutError:
                    return
                if entry[0] > sent:
                    yield event(entry)
                    sent = entry[0]
                if sub.overflow:
                    yield ServerSentEvent("too many exchanges to follow live", event="reload")
                    return
        finally:
            feed.subscribers.discard(sub)

    return EventSourceResponse(stream(), ping=KEEPALIVE_SECONDS, headers={"cache-control": "no-cache"})
