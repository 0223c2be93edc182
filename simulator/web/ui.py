"""The web UI at `/`: server-rendered Jinja2 pages with small hand-written JS (no CDN, works offline).

- Traffic (`/`): recorded exchanges, newest first, keyset-paged, filterable, with instant search and a
  live feed over server-sent events (`/ui/traffic/stream`); detail view per exchange.
- Configuration (`/ui/config`): routes, agreements and fault injection (editable), services, systems.
- KY ledger, Beskedfordeler and Sortiments: views over the components' admin APIs (`/api/ky`, …), called
  in-process, so the UI follows those JSON contracts; a page says so when its component is not loaded.
- Scenarios & readiness (`/ui/scenarios`): start an SA 05 readiness check or a replay of a built-in scenario
  through the scenarios admin API; the runs panel refreshes itself until every run has finished.

When SIMULATOR_ADMIN_TOKEN is set, the UI asks for the token once (`/ui/login`) and keeps it in a cookie.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import re
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlencode

import httpx
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response, StreamingResponse
from fastapi.templating import Jinja2Templates
from lxml import etree
from markupsafe import Markup
from sqlalchemy import func, or_, select

from simulator.serviceplatform import AgreementDef, RouteDef, RouteTableError
from simulator.serviceplatform.routefiles import check_fault
from simulator.store import ExchangeRow
from simulator.traffic.query import MAX_SEQ, SUMMARY_COLUMNS, ExchangeFilter, get_exchange, list_exchanges
from simulator.web.deps import RuntimeDep

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
templates = Jinja2Templates(directory=HERE / "templates")

COOKIE = "simulator_admin"
PAGE_SIZE = 50
SEARCH_WINDOW = 20_000  # body search (CPR/CVR in the XML) covers the newest this many exchanges
FEED_BUFFER = 1_000  # exchanges kept in memory to replay to a reconnecting live list
STREAM_SECONDS = 15.0  # an SSE response ends after this long; the browser reconnects (Last-Event-ID)
KEEPALIVE_SECONDS = 5.0

NAV = [
    ("traffic", "/", "Traffic"),
    ("config", "/ui/config", "Configuration"),
    ("ky", "/ui/ky", "KY ledger"),
    ("beskedfordeler", "/ui/beskedfordeler", "Beskedfordeler"),
    ("sortiment", "/ui/sortiment", "Sortiments"),
    ("scenarios", "/ui/scenarios", "Scenarios & readiness"),
]


# -- access ------------------------------------------------------------------------------------------


def _authorised(request: Request) -> bool:
    token = request.app.state.runtime.settings.admin_token
    if not token:
        return True
    cookie = request.cookies.get(COOKIE) or ""
    header = request.headers.get("authorization") or ""
    return hmac.compare_digest(cookie, token) or hmac.compare_digest(header, f"Bearer {token}")


def ui_admin(request: Request) -> None:
    """Pages need the admin token when one is set: from the login cookie (or a Bearer header)."""
    if _authorised(request):
        return
    if request.url.path.startswith("/ui/traffic/stream") or request.headers.get("x-partial"):
        raise HTTPException(401, "log in at /ui/login")
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    raise HTTPException(303, "log in first", headers={"Location": f"/ui/login?next={quote(target)}"})


public = APIRouter(include_in_schema=False)
pages = APIRouter(include_in_schema=False, dependencies=[Depends(ui_admin)])


@public.get("/ui/static/{name}")
async def static(name: str) -> FileResponse:
    path = STATIC / name
    if "/" in name or "\\" in name or name.startswith(".") or not path.is_file():
        raise HTTPException(404, "no such file")
    return FileResponse(path, headers={"cache-control": "no-cache"})


@public.get("/ui/login", response_class=HTMLResponse)
async def login_form(request: Request, next: str = "/", error: str | None = None) -> HTMLResponse:
    return render(request, "login.html", "", next=_local(next), error=error)


@public.post("/ui/login")
async def login(request: Request) -> Response:
    form = await _form(request)
    token, next = form.get("token") or "", form.get("next") or "/"
    expected = request.app.state.runtime.settings.admin_token or ""
    if not hmac.compare_digest(token, expected):
        return RedirectResponse(f"/ui/login?{urlencode({'next': _local(next), 'error': 'wrong token'})}", 303)
    response = RedirectResponse(_local(next), 303)
    response.set_cookie(COOKIE, token, httponly=True, samesite="strict")
    return response


async def _form(request: Request) -> dict[str, str]:
    """The UI's forms are application/x-www-form-urlencoded (no multipart dependency needed)."""
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
        raise HTTPException(415, "send the form as application/x-www-form-urlencoded")
    body = await request.body()
    if len(body) > 1024 * 1024:
        raise HTTPException(413, "form too large")
    return {k: v[-1] for k, v in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()}


def _local(target: str) -> str:
    """Only redirect within this site."""
    return target if target.startswith("/") and not target.startswith("//") else "/"


# -- rendering helpers -------------------------------------------------------------------------------


def render(request: Request, template: str, active: str, status_code: int = 200, **ctx: Any) -> HTMLResponse:
    rt = request.app.state.runtime
    ctx |= {
        "request": request,
        "nav": NAV,
        "active": active,
        "components": [c.name for c in rt.components],
        "msg": request.query_params.get("msg"),
        "err": request.query_params.get("err"),
    }
    return templates.TemplateResponse(request, template, ctx, status_code=status_code)


def fmt_time(value: Any) -> str:
    """Times in UTC, to the millisecond (SQLite hands back naive UTC, PostgreSQL aware)."""
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC)
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    return str(value)


def fmt_ms(value: Any) -> str:
    return "—" if value is None else f"{float(value):.1f} ms"


def fmt_value(value: Any) -> Markup:
    """A cell for the generic tables of the component pages."""
    if value is None or value == "":
        return Markup('<span class="muted">—</span>')
    if isinstance(value, bool):
        return Markup('<span class="badge ok">yes</span>' if value else '<span class="badge">no</span>')
    if isinstance(value, dict | list):
        text = json.dumps(value, ensure_ascii=False, default=str)
        if len(text) > 160:
            return Markup(
                f"<details><summary><code>{escape(text[:80])}…</code></summary>"
                f"<pre>{escape(json.dumps(value, ensure_ascii=False, indent=2, default=str))}</pre>"
                "</details>"
            )
        return Markup(f"<code>{escape(text)}</code>")
    text = str(value)
    if _ISO_TIME.match(text):
        return Markup(escape(fmt_time(text)))
    if _UUID.match(text):
        return Markup(f'<code class="uuid" title="{escape(text)}">{escape(text[:8])}…</code>')
    return Markup(escape(text))


_ISO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")

templates.env.filters["t"] = fmt_time
templates.env.filters["ms"] = fmt_ms
templates.env.filters["v"] = fmt_value
templates.env.globals["columns_of"] = lambda items, skip=(): _columns(items, skip)


def _columns(items: list[dict], skip: tuple | list = ()) -> list[str]:
    cols: list[str] = []
    for item in items[:50]:
        for k in item:
            if k not in cols and k not in skip:
                cols.append(k)
    return cols


# -- XML: pretty-print and highlight -----------------------------------------------------------------

_SAFE_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, remove_blank_text=True, huge_tree=False
)
_TOKEN = re.compile(
    r"(?P<comment><!--.*?-->)|(?P<pi><\?.*?\?>)|(?P<cdata><!\[CDATA\[.*?\]\]>)"
    r"|(?P<open></?)(?P<name>[\w:.\-]+)(?P<attrs>(?:\s+[\w:.\-]+\s*=\s*(?:\"[^\"]*\"|'[^']*'))*)(?P<ws>\s*)(?P<close>/?>)"
    r"|(?P<text>[^<]+)|(?P<other><)",
    re.S,
)
_ATTR = re.compile(r"(\s+)([\w:.\-]+)(\s*=\s*)(\"[^\"]*\"|'[^']*')")


def pretty_xml(text: str) -> str:
    """Indented XML; the text unchanged when it does not parse (truncated, not XML)."""
    if not text:
        return ""
    try:
        root = etree.fromstring(text.encode("utf-8"), _SAFE_PARSER)
    except (etree.XMLSyntaxError, ValueError):
        return text
    return etree.tostring(root, pretty_print=True, encoding="unicode").rstrip("\n")


def highlight_xml(text: str) -> Markup:
    """XML as HTML with spans for tags, attributes, values, comments (everything escaped)."""
    out: list[str] = []
    for m in _TOKEN.finditer(text):
        kind = m.lastgroup
        if m.group("name"):
            attrs = _ATTR.sub(
                lambda a: (
                    f'{a.group(1)}<span class="xa">{escape(a.group(2))}</span>{escape(a.group(3))}'
                    f'<span class="xv">{escape(a.group(4))}</span>'
                ),
                m.group("attrs"),
            )
            out.append(
                f'<span class="xt">{escape(m.group("open"))}{escape(m.group("name"))}</span>{attrs}'
                f'{escape(m.group("ws"))}<span class="xt">{escape(m.group("close"))}</span>'
            )
        elif kind == "comment":
            out.append(f'<span class="xc">{escape(m.group(0))}</span>')
        elif kind in ("pi", "cdata"):
            out.append(f'<span class="xp">{escape(m.group(0))}</span>')
        else:
            out.append(
                f'<span class="xx">{escape(m.group(0))}</span>'
                if kind == "text" and m.group(0).strip()
                else escape(m.group(0))
            )
    return Markup("".join(out))


# -- traffic: filters, search, live feed ---------------------------------------------------------------

FILTER_FIELDS = ("service", "operation", "municipality", "system_uuid", "status", "decision", "origin")
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
    since: datetime | None = None
    until: datetime | None = None
    q: str | None = None
    before: int | None = None
    problems: list[str] = field(default_factory=list)

    @classmethod
    def from_request(cls, request: Request) -> TrafficQuery:
        p = request.query_params
        out = cls(**{k: (p.get(k) or "").strip() or None for k in FILTER_FIELDS})
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

    def to_filter(self, sqlite: bool) -> ExchangeFilter:
        since, until = self.since, self.until
        if sqlite:  # SQLite stores naive UTC; compare like with like
            since = since.astimezone(UTC).replace(tzinfo=None) if since else None
            until = until.astimezone(UTC).replace(tzinfo=None) if until else None
        return ExchangeFilter(**{k: getattr(self, k) for k in FILTER_FIELDS}, since=since, until=until)

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


async def search_exchanges(db, tq: TrafficQuery, *, limit: int = PAGE_SIZE) -> list[dict]:
    """Filtered exchanges, newest first; with a search term, those whose id, correlation id, caller's
    call id or municipality equals it, or (among the newest SEARCH_WINDOW) whose bodies contain it."""
    if not tq.q:
        return await list_exchanges(db, tq.to_filter(db.dialect == "sqlite"), limit=limit, before=tq.before)
    t = ExchangeRow
    q = tq.q
    async with db.session() as s:
        newest = await s.scalar(select(func.max(t.seq))) or 0
        floor = max(0, newest - SEARCH_WINDOW)
        term = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        like = f"%{term}%"
        body_hit = (t.seq > floor) & (t.request_body.like(like, escape="\\") | t.response_body.like(like, escape="\\"))
        stmt = (
            tq.to_filter(db.dialect == "sqlite")
            .apply(select(*SUMMARY_COLUMNS))
            .where(or_(t.id == q, t.correlation_id == q, t.callers_call_id == q, t.municipality == q, body_hit))
        )
        if tq.before is not None:
            stmt = stmt.where(t.seq < tq.before)
        stmt = stmt.order_by(t.seq.desc()).limit(limit)
        return [dict(r._mapping) for r in await s.execute(stmt)]


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


def _system_names(rt) -> dict[str, str]:
    return {s.uuid: s.key for s in rt.routes.systems.values()}


def _row_html(request: Request, rows: list[dict]) -> str:
    return templates.get_template("_rows.html").render(
        rows=rows, systems=_system_names(request.app.state.runtime), request=request
    )


def _traffic_context(rt, tq: TrafficQuery) -> dict[str, Any]:
    ops = sorted({op for s in rt.routes.services.values() for op in _operations(rt, s.name)})
    return {
        "tq": tq,
        "services": sorted(rt.routes.services),
        "operations": ops,
        "municipalities": list(rt.routes.municipalities.values()),
        "systems": list(rt.routes.systems.values()),
        "decisions": ["routed", "handled", "accepted", "refused", "injected", "provider-fault"],
        "origins": sorted({"http", "ky", "klassifikation", "beskedfordeler", *[c.name for c in rt.components]}),
    }


def _operations(rt, service: str) -> list[str]:
    s = rt.routes.services.get(service)
    contract = rt.pipeline.contract_for(s) if s else None
    return list(contract.operations) if contract is not None else []


async def _page(request: Request, rt, tq: TrafficQuery) -> tuple[list[dict], int | None]:
    if tq.problems:
        return [], None
    await rt.recorder.flush()
    rows = await search_exchanges(rt.db, tq)
    return rows, rows[-1]["seq"] if len(rows) == PAGE_SIZE else None


@pages.get("/", response_class=HTMLResponse)
@pages.get("/ui/traffic", response_class=HTMLResponse)
async def traffic(request: Request, rt: RuntimeDep) -> HTMLResponse:
    tq = TrafficQuery.from_request(request)
    feed = feed_of(rt)
    since = feed.counter  # rows after this may also be in the page; the browser drops duplicates
    rows, next_before = await _page(request, rt, tq)
    return render(
        request,
        "traffic.html",
        "traffic",
        rows=rows,
        rows_html=Markup(_row_html(request, rows)),
        next_before=next_before,
        feed_since=since,
        live=tq.before is None,
        older_url=f"/?{urlencode(tq.params(before=next_before))}" if next_before else None,
        newest_url=f"/?{urlencode(tq.params())}",
        stream_url=f"/ui/traffic/stream?{urlencode(tq.params())}",
        **_traffic_context(rt, tq),
    )


@pages.get("/ui/traffic/rows")
async def traffic_rows(request: Request, rt: RuntimeDep) -> Response:
    """The list's rows and pager for the instant search (JSON with HTML parts)."""
    tq = TrafficQuery.from_request(request)
    feed = feed_of(rt)
    since = feed.counter
    rows, next_before = await _page(request, rt, tq)
    return Response(
        json.dumps(
            {
                "rows": _row_html(request, rows),
                "count": len(rows),
                "problems": tq.problems,
                "older_url": f"/?{urlencode(tq.params(before=next_before))}" if next_before else None,
                "stream_url": f"/ui/traffic/stream?{urlencode(tq.params())}&since={since}",
                "page_url": f"/?{urlencode(tq.params())}",
            }
        ),
        media_type="application/json",
    )


@pages.get("/ui/traffic/stream")
async def traffic_stream(request: Request, rt: RuntimeDep) -> StreamingResponse:
    """Server-sent events: `exchange` events carry a table row (HTML) for each new exchange that
    matches the filters. Ends after STREAM_SECONDS; the browser reconnects with Last-Event-ID."""
    tq = TrafficQuery.from_request(request)
    feed = feed_of(rt)
    last = request.headers.get("last-event-id") or request.query_params.get("since") or ""
    last_id = int(last) if last.isdigit() else feed.counter
    if last_id > feed.counter:  # the simulator restarted since: replay nothing
        last_id = feed.counter
    sub = _Subscriber(tq)
    feed.subscribers.add(sub)
    systems = _system_names(rt)

    def event(entry: tuple[int, dict, frozenset]) -> str:
        html = templates.get_template("_rows.html").render(rows=[entry[1]], systems=systems, live=True)
        data = "".join(f"data: {line}\n" for line in html.strip().splitlines())
        return f"id: {entry[0]}\nevent: exchange\n{data}\n"

    async def stream() -> AsyncIterator[str]:
        try:
            yield f"retry: 500\nid: {last_id}\nevent: hello\ndata: {last_id}\n\n"
            sent = last_id
            for entry in list(feed.buffer):
                if entry[0] > sent and tq.matches(entry[1], entry[2]):
                    yield event(entry)
                    sent = entry[0]
            deadline = time.monotonic() + STREAM_SECONDS
            while (left := deadline - time.monotonic()) > 0:
                try:
                    entry = await asyncio.wait_for(sub.queue.get(), timeout=min(left, KEEPALIVE_SECONDS))
                except TimeoutError:
                    yield ": keep-alive\n\n"
                    continue
                if entry[0] > sent:
                    yield event(entry)
                    sent = entry[0]
                if sub.overflow:
                    yield "event: reload\ndata: too many exchanges to follow live\n\n"
                    return
        finally:
            feed.subscribers.discard(sub)

    return StreamingResponse(
        stream(), media_type="text/event-stream", headers={"cache-control": "no-cache", "x-accel-buffering": "no"}
    )


@pages.get("/ui/traffic/{exchange_id}", response_class=HTMLResponse)
async def exchange(request: Request, rt: RuntimeDep, exchange_id: str) -> HTMLResponse:
    await rt.recorder.flush()
    row = await get_exchange(rt.db, exchange_id)
    if row is None:
        return render(request, "not_found.html", "traffic", status_code=404, what=f"exchange {exchange_id}")
    systems = {s.uuid: s for s in rt.routes.systems.values()}
    agreement = rt.routes.agreements.get(row["agreement_uuid"] or "")
    return render(
        request,
        "exchange.html",
        "traffic",
        x=row,
        request_xml=highlight_xml(pretty_xml(row["request_body"])),
        response_xml=highlight_xml(pretty_xml(row["response_body"])),
        system=systems.get(row["system_uuid"] or ""),
        agreement=agreement,
        municipality=rt.routes.municipalities.get(row["municipality"] or ""),
        route=rt.routes.route_for(row["service"], row["municipality"]) if row["service"] else None,
        curl=_curl(request, rt, row),
    )


def _curl(request: Request, rt, row: dict[str, Any]) -> str | None:
    service = rt.routes.services.get(row["service"] or "")
    if service is None:
        return None
    base = str(request.base_url).rstrip("/")
    lines = [f"curl -sS -X POST '{base}{service.path}'", "  -H 'Content-Type: text/xml; charset=utf-8'"]
    contract = rt.pipeline.contract_for(service)
    op = contract.operations.get(row["operation"] or "") if contract is not None else None
    if op is not None and op.soap_action:
        lines.append(f"  -H 'SOAPAction: \"{op.soap_action}\"'")
    for header, key in (("X-Correlation-Id", "correlation_id"), ("X-Simulator-Session", "session")):
        if row.get(key) and "'" not in row[key]:
            lines.append(f"  -H '{header}: {row[key]}'")
    lines.append("  --data-binary @- <<'SOAP_REQUEST_EOF'")
    return " \\\n".join(lines) + "\n" + row["request_body"] + "\nSOAP_REQUEST_EOF\n"


# -- configuration -----------------------------------------------------------------------------------


def _back(path: str, msg: str | None = None, err: str | None = None) -> RedirectResponse:
    query = urlencode({k: v for k, v in (("msg", msg), ("err", err)) if v})
    return RedirectResponse(f"{path}?{query}" if query else path, 303)


@pages.get("/ui/config", response_class=HTMLResponse)
async def config(request: Request, rt: RuntimeDep) -> HTMLResponse:
    r = rt.routes
    services = list(r.services.values())
    return render(
        request,
        "config.html",
        "config",
        routes=sorted(r.routes.values(), key=lambda x: x.position),
        agreements=sorted(r.agreements.values(), key=lambda a: (a.service, a.municipality, a.system)),
        services=services,
        systems=list(r.systems.values()),
        municipalities=list(r.municipalities.values()),
        handlers=sorted(rt.handlers),
        base_url=str(request.base_url).rstrip("/"),
    )


def _int(raw: str | None, what: str) -> int | None:
    raw = (raw or "").strip()
    if not raw:
        return None
    if not raw.isdigit():
        raise ValueError(f"{what} must be a whole number, not '{raw}'")
    return int(raw)


def _fault_from_form(form) -> dict[str, Any] | None:
    fault: dict[str, Any] = {}
    if (v := _int(form.get("delay_ms"), "delay (ms)")) is not None:
        fault["delay_ms"] = v
    if v := (form.get("soap_fault") or "").strip():
        fault["soap_fault"] = v
    if (v := _int(form.get("http_status"), "HTTP status")) is not None:
        if not 400 <= v <= 599:
            raise ValueError("HTTP status must be between 400 and 599")
        fault["http_status"] = v
    if form.get("drop_connection"):
        fault["drop_connection"] = True
    if fault and (problem := check_fault(fault)):
        raise ValueError(problem)
    return fault or None


@pages.post("/ui/config/routes")
async def save_route(request: Request, rt: RuntimeDep) -> RedirectResponse:
    """Create or replace a route (service × municipality), with its fault injection."""
    form = await _form(request)
    service = (form.get("service") or "").strip()
    municipality = (form.get("municipality") or "").strip()
    target = (form.get("target") or "").strip()
    try:
        fault = _fault_from_form(form)
        existing = rt.routes.routes.get(f"{service}:{municipality}")
        route = RouteDef(
            service=service,
            municipality=municipality,
            target=target,
            fault=fault,
            position=existing.position if existing else 0,
        )
        await rt.routes.put_route(rt.db, route)
    except (RouteTableError, ValueError) as e:
        return _back("/ui/config", err=f"route {service}:{municipality}: {e}")
    what = f"fault {fault}" if fault else "no fault"
    return _back("/ui/config", msg=f"route {route.id} saved: {target}, {what}")


@pages.post("/ui/config/routes/{route_id}/delete")
async def delete_route(rt: RuntimeDep, route_id: str) -> RedirectResponse:
    if not await rt.routes.delete_route(rt.db, route_id):
        return _back("/ui/config", err=f"no route {route_id}")
    return _back("/ui/config", msg=f"route {route_id} deleted")


@pages.post("/ui/config/agreements")
async def save_agreement(request: Request, rt: RuntimeDep) -> RedirectResponse:
    """Create or replace a serviceaftale (system × municipality × service), active or not."""
    form = await _form(request)
    uuid = (form.get("uuid") or "").strip()
    beskedtyper = [b.strip() for b in (form.get("beskedtyper") or "").split(",") if b.strip()] or None
    try:
        ag = await rt.routes.put_agreement(
            rt.db,
            AgreementDef(
                uuid=uuid,
                system=(form.get("system") or "").strip(),
                municipality=(form.get("municipality") or "").strip(),
                service=(form.get("service") or "").strip(),
                beskedtyper=beskedtyper,
                active=bool(form.get("active")),
            ),
        )
    except RouteTableError as e:
        return _back("/ui/config", err=f"agreement {uuid}: {e}")
    return _back("/ui/config", msg=f"agreement {ag.uuid} saved ({'active' if ag.active else 'inactive'})")


@pages.post("/ui/config/agreements/{uuid}/delete")
async def delete_agreement(rt: RuntimeDep, uuid: str) -> RedirectResponse:
    if not await rt.routes.delete_agreement(rt.db, uuid):
        return _back("/ui/config", err=f"no agreement {uuid}")
    return _back("/ui/config", msg=f"agreement {uuid} deleted")


# -- component pages (through the components' admin APIs, in-process) -------------------------------


class ApiError(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


async def _api(request: Request, method: str, path: str, **kw: Any) -> Any:
    """Call the simulator's own admin API in-process; raise ApiError with its detail on failure."""
    rt = request.app.state.runtime
    headers = {"authorization": f"Bearer {rt.settings.admin_token}"} if rt.settings.admin_token else {}
    transport = httpx.ASGITransport(app=request.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://ui.internal", headers=headers) as client:
        r = await client.request(method, f"/api{path}", **kw)
    if r.status_code >= 400:
        try:
            detail = r.json().get("detail", r.text)
        except ValueError:
            detail = r.text
        raise ApiError(r.status_code, detail if isinstance(detail, str) else json.dumps(detail))
    return r.json() if r.content else None


async def _gather(request: Request, **calls: str) -> tuple[dict[str, Any], dict[str, str]]:
    """GET several admin API paths; returns (data by name, error by name)."""
    data: dict[str, Any] = {}
    errors: dict[str, str] = {}

    async def one(name: str, path: str) -> None:
        try:
            data[name] = await _api(request, "GET", path)
        except ApiError as e:
            errors[name] = f"{path}: HTTP {e.status}: {e.detail}"
            data[name] = None

    await asyncio.gather(*(one(n, p) for n, p in calls.items()))
    return data, errors


def _loaded(rt, name: str) -> bool:
    return any(c.name == name for c in rt.components)


async def _action(request: Request, back: str, method: str, path: str, done: str, **kw: Any) -> RedirectResponse:
    try:
        await _api(request, method, path, **kw)
    except ApiError as e:
        return _back(back, err=f"{done} failed: {e.detail}")
    return _back(back, msg=done)


@pages.get("/ui/ky", response_class=HTMLResponse)
async def ky(request: Request, rt: RuntimeDep) -> HTMLResponse:
    if not _loaded(rt, "ky"):
        return render(request, "unavailable.html", "ky", title="KY ledger", component="ky")
    p = request.query_params
    municipality = (p.get("municipality") or "").strip()
    party = (p.get("party") or "").strip()
    params = {"limit": "100"}
    if municipality:
        params["municipality"] = municipality
    if party:
        params["cpr" if len(party) == 10 else "cvr"] = party
    scoped = f"?{urlencode({'municipality': municipality})}" if municipality else ""
    data, errors = await _gather(
        request,
        accounts=f"/ky/accounts?{urlencode(params)}",
        postings=f"/ky/postings{scoped}{'&' if scoped else '?'}limit=100",
        status_changes=f"/ky/status-changes{scoped}{'&' if scoped else '?'}limit=100",
        fordringer=f"/ky/fordringer-til-indbetaling{scoped}{'&' if scoped else '?'}limit=50",
    )
    postings = data["postings"] or []
    return render(
        request,
        "ky.html",
        "ky",
        data=data,
        errors=errors,
        municipality=municipality,
        party=party,
        municipalities=list(rt.routes.municipalities.values()),
        coverages=[x for x in postings if x.get("kind") in ("daekning", "afskrivning")],
        other_postings=[x for x in postings if x.get("kind") not in ("daekning", "afskrivning")],
    )


@pages.get("/ui/beskedfordeler", response_class=HTMLResponse)
async def beskedfordeler(request: Request, rt: RuntimeDep) -> HTMLResponse:
    if not _loaded(rt, "beskedfordeler"):
        return render(request, "unavailable.html", "beskedfordeler", title="Beskedfordeler", component="beskedfordeler")
    data, errors = await _gather(
        request,
        status="/beskedfordeler/status",
        dueslag="/beskedfordeler/dueslag",
        abonnementer="/beskedfordeler/abonnementer",
        beskeder="/beskedfordeler/beskeder?limit=50",
        beskedtyper="/beskedfordeler/beskedtyper",
        ky="/beskedfordeler/ky/modtaget?limit=20",
    )
    names = {b["uuid"]: b["name"] for b in data["beskedtyper"] or []}
    return render(
        request,
        "beskedfordeler.html",
        "beskedfordeler",
        data=data,
        errors=errors,
        beskedtyper=names,
        systems={s.key: s for s in rt.routes.systems.values()},
    )


@pages.get("/ui/beskedfordeler/dueslag/{uuid}", response_class=HTMLResponse)
async def dueslag(request: Request, rt: RuntimeDep, uuid: str) -> HTMLResponse:
    if not _loaded(rt, "beskedfordeler"):
        return render(request, "unavailable.html", "beskedfordeler", title="Beskedfordeler", component="beskedfordeler")
    data, errors = await _gather(
        request,
        dueslag="/beskedfordeler/dueslag",
        fejlkoe=f"/beskedfordeler/dueslag/{quote(uuid)}/leveringer?state=fejlkoe&limit=200",
        leveringer=f"/beskedfordeler/dueslag/{quote(uuid)}/leveringer?limit=100",
        forsoeg=f"/beskedfordeler/dueslag/{quote(uuid)}/forsoeg?limit=100",
    )
    d = next((x for x in data["dueslag"] or [] if x.get("uuid") == uuid), None)
    if d is None and not errors:
        return render(request, "not_found.html", "beskedfordeler", status_code=404, what=f"dueslag {uuid}")
    return render(request, "dueslag.html", "beskedfordeler", d=d, uuid=uuid, data=data, errors=errors)


@pages.get("/ui/beskedfordeler/beskeder/{besked_id}", response_class=HTMLResponse)
async def besked(request: Request, rt: RuntimeDep, besked_id: str) -> HTMLResponse:
    if not _loaded(rt, "beskedfordeler"):
        return render(request, "unavailable.html", "beskedfordeler", title="Beskedfordeler", component="beskedfordeler")
    data, errors = await _gather(request, besked=f"/beskedfordeler/beskeder/{quote(besked_id)}")
    b = data["besked"]
    return render(
        request,
        "besked.html",
        "beskedfordeler",
        b=b,
        errors=errors,
        besked_id=besked_id,
        body_xml=highlight_xml(pretty_xml(b.get("body") or "")) if b else None,
    )


@pages.post("/ui/beskedfordeler/dueslag/{uuid}/gensend")
async def gensend(request: Request, uuid: str) -> RedirectResponse:
    """Re-queue from the error queue: one message (besked_id) or all."""
    form = await _form(request)
    besked_id = (form.get("besked_id") or "").strip() or None
    back = (form.get("back") or "").strip() or f"/ui/beskedfordeler/dueslag/{quote(uuid)}"
    try:
        result = await _api(
            request, "POST", f"/beskedfordeler/dueslag/{quote(uuid)}/fejlkoe/gensend", json={"besked_id": besked_id}
        )
    except ApiError as e:
        return _back(_local(back), err=f"re-queue failed: {e.detail}")
    moved = (result or {}).get("moved") or []
    count = len(moved) if isinstance(moved, list) else moved
    return _back(_local(back), msg=f"re-queued {count} message(s) from the error queue to dueslag {uuid}")


@pages.post("/ui/beskedfordeler/dueslag/{uuid}/genoptag")
async def genoptag(request: Request, uuid: str) -> RedirectResponse:
    return await _action(
        request,
        "/ui/beskedfordeler",
        "POST",
        f"/beskedfordeler/dueslag/{quote(uuid)}/genoptag",
        f"push delivery to dueslag {uuid} resumed",
    )


@pages.get("/ui/sortiment", response_class=HTMLResponse)
async def sortiment(request: Request, rt: RuntimeDep) -> HTMLResponse:
    if not _loaded(rt, "klassifikation"):
        return render(request, "unavailable.html", "sortiment", title="Sortiments", component="klassifikation")
    data, errors = await _gather(
        request,
        versions="/klassifikation/sortiment/versions",
        subscriptions="/klassifikation/subscriptions",
        deliveries="/klassifikation/deliveries?limit=50",
    )
    versions = data["versions"] or []
    diff = None
    p = request.query_params
    a, b = p.get("from", ""), p.get("to", "")
    if a.isdigit() and b.isdigit():
        snaps, snap_errors = await _gather(
            request, a=f"/klassifikation/sortiment/versions/{a}", b=f"/klassifikation/sortiment/versions/{b}"
        )
        errors |= snap_errors
        if snaps["a"] and snaps["b"]:
            diff = sortiment_diff(snaps["a"], snaps["b"])
    elif len(versions) >= 2:
        a, b = str(versions[-2]["version"]), str(versions[-1]["version"])
    return render(
        request,
        "sortiment.html",
        "sortiment",
        data=data,
        errors=errors,
        versions=versions,
        diff=diff,
        diff_from=a,
        diff_to=b,
    )


DIFF_FIELDS = ("brugervendt_noegle", "titel", "beskrivelse", "facet", "overordnet", "virkning_fra", "virkning_til")


def sortiment_diff(a: dict[str, Any], b: dict[str, Any]) -> list[dict[str, Any]]:
    """Klasser added, removed, retired and changed between two version snapshots."""
    ka = {k["uuid"]: k for k in a.get("klasser", [])}
    kb = {k["uuid"]: k for k in b.get("klasser", [])}
    out: list[dict[str, Any]] = []
    for uuid, k in kb.items():
        old = ka.get(uuid)
        if old is None:
            out.append({"change": "added", "klasse": k, "fields": {f: (None, k.get(f)) for f in ("titel",)}})
            continue
        changed = {f: (old.get(f), k.get(f)) for f in DIFF_FIELDS if old.get(f) != k.get(f)}
        if changed:
            kind = "retired" if not old.get("virkning_til") and k.get("virkning_til") else "changed"
            out.append({"change": kind, "klasse": k, "fields": changed})
    for uuid, k in ka.items():
        if uuid not in kb:
            out.append({"change": "removed", "klasse": k, "fields": {}})
    return out


@pages.post("/ui/sortiment/subscriptions/{municipality}/{system}/{action}")
async def subscription_action(request: Request, municipality: str, system: str, action: str) -> RedirectResponse:
    if action not in ("resend", "retry"):
        raise HTTPException(404, f"no action {action}")
    done = {"resend": "whole sortiment queued again", "retry": "delivery retried"}[action]
    return await _action(
        request,
        "/ui/sortiment",
        "POST",
        f"/klassifikation/subscriptions/{quote(municipality)}/{quote(system)}/{action}",
        f"{municipality}:{system}: {done}",
    )


def _run_row(run: dict[str, Any]) -> dict[str, Any]:
    """A run summary from `GET /api/scenarios/runs` with what the runs table shows."""
    progress = run.get("progress") or {}
    done, total = progress.get("done") or 0, progress.get("total") or 0
    finished = run.get("state") != "running"
    return run | {
        "progress_text": f"{done}/{total}" if total else "",
        "percent": 100 if finished else (round(100 * done / total) if total else 0),
        "verdict": run.get("verdict") if finished else None,
        "finished": finished,
    }


@pages.get("/ui/scenarios", response_class=HTMLResponse)
async def scenarios(request: Request, rt: RuntimeDep) -> HTMLResponse:
    """Start a readiness check or a replay of a built-in scenario; watch the runs; open their reports."""
    if not _loaded(rt, "scenarios"):
        return render(request, "unavailable.html", "scenarios", title="Scenarios & readiness", component="scenarios")
    data, errors = await _gather(request, runs="/scenarios/runs", builtin="/scenarios")
    return render(
        request,
        "scenarios.html",
        "scenarios",
        runs=[_run_row(r) for r in data["runs"] or []],
        builtin=data["builtin"] or [],
        municipalities=list(rt.routes.municipalities.values()),
        errors=errors,
    )


@pages.post("/ui/scenarios/readiness")
async def start_readiness(request: Request) -> RedirectResponse:
    form = await _form(request)
    municipality = str(form.get("municipality", ""))
    return await _action(
        request,
        "/ui/scenarios",
        "POST",
        "/readiness/runs",
        f"readiness run for {municipality} started",
        json={"municipality": municipality},
    )


@pages.post("/ui/scenarios/replay")
async def start_replay(request: Request) -> RedirectResponse:
    form = await _form(request)
    body = {"scenario": str(form.get("scenario", "")), "municipality": str(form.get("municipality", "")) or None}
    return await _action(
        request, "/ui/scenarios", "POST", "/scenarios/runs", f"replay of {body['scenario']} started", json=body
    )


router = APIRouter(include_in_schema=False)
router.include_router(public)
router.include_router(pages)

__all__ = ["TrafficFeed", "feed_of", "highlight_xml", "pretty_xml", "router", "sortiment_diff"]
