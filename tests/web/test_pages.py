"""The UI's server side without a browser: paging over 100,000 exchanges, the event stream, login."""

from __future__ import annotations

import re
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import insert

from simulator.store import ExchangeRow
from simulator.web.ui import feed_of, highlight_xml, pretty_xml
from tests.serviceplatform.pingservice import AGREEMENT_OTHER_SYSTEM, envelope, write_routes
from tests.web.conftest import PATH, echo

ROW_ID = re.compile(r'<tr data-id="([^"]+)" data-seq="(\d+)"')


def _row(i: int, t0: datetime) -> dict:
    fault = i % 10 == 0
    return {
        "id": str(uuid.UUID(int=i + 1)),
        "started_at": t0 + timedelta(milliseconds=i),
        "duration_ms": 1.5,
        "origin": "http",
        "service": "Ping",
        "operation": "Ping",
        "municipality": "12345678",
        "decision": "refused" if fault else "handled",
        "reason": "",
        "status": "fault" if fault else "ok",
        "fault_code": "SP-131" if fault else None,
        "http_status": 500 if fault else 200,
        "callers_call_id": f"call-{i}",
        "request_body": f"<x><cpr>{1000000000 + i}</cpr></x>",
        "response_body": "<y/>",
    }


async def test_pages_stay_paged_with_100000_recorded_exchanges(sim_factory, tmp_path, backend):
    routes = write_routes(tmp_path / "ping-routes", "builtin:echo")
    async with sim_factory(backend=backend, components=[], routes_dir=routes) as sim:
        t0 = datetime(2024, 1, 1, tzinfo=UTC)
        async with sim.rt.db.session() as s, s.begin():  # the table, not the ORM entity: 3x faster here
            for start in range(0, 100_000, 10_000):
                await s.execute(insert(ExchangeRow.__table__), [_row(i, t0) for i in range(start, start + 10_000)])

        r = await sim.client.get("/")
        assert r.status_code == 200
        rows = ROW_ID.findall(r.text)
        assert len(rows) == 50 and rows[0][0] == str(uuid.UUID(int=100_000))  # newest first, one page
        older = re.search(r'id="older" href="([^"]+)"', r.text).group(1).replace("&amp;", "&")
        r = await sim.client.get(older)
        page2 = ROW_ID.findall(r.text)
        assert len(page2) == 50 and int(page2[0][1]) == int(rows[-1][1]) - 1  # keyset: continues below

        r = await sim.client.get("/", params={"status": "fault"})
        assert (
            len(ROW_ID.findall(r.text)) == 50
            and "platform fault · SP-131" in r.text
            and 'class="decision handled"' not in r.text
        )
        # search: a caller's call id anywhere (indexed), a CPR in a body among the newest exchanges
        r = (await sim.client.get("/ui/traffic/rows", params={"q": "call-3"})).json()
        assert r["count"] == 1 and str(uuid.UUID(int=4)) in r["rows"]
        r = (await sim.client.get("/ui/traffic/rows", params={"q": str(1000000000 + 99_990)})).json()
        assert r["count"] == 1 and str(uuid.UUID(int=99_991)) in r["rows"]
        r = (await sim.client.get("/ui/traffic/rows", params={"since": "2024-01-01T00:01:39", "status": "ok"})).json()
        assert r["count"] == 50  # the last second holds 1,000 exchanges
        r = (await sim.client.get("/ui/traffic/rows", params={"since": "yesterday"})).json()
        assert r["count"] == 0 and r["problems"] == ["since: 'yesterday' is not a date-time"]
        r = await sim.client.get(f"/ui/traffic/{uuid.UUID(int=12_345)}")
        assert r.status_code == 200 and "1000012344" in r.text


def _events(response: httpx.Response, want: int, found: list[dict]) -> None:
    """Read server-sent events until `want` exchange events have arrived."""
    event: dict = {}
    for line in response.iter_lines():
        if not line:
            if event.get("event") == "exchange":
                found.append(event)
                if len(found) >= want:
                    return
            event = {}
            continue
        key, _, value = line.partition(": ")
        event[key] = event.get(key, "") + value if key == "data" else value


def test_the_event_stream_filters_replays_after_a_reconnect_and_lets_go(live_factory, tmp_path):
    routes = write_routes(tmp_path / "ping-routes", "builtin:echo")
    with live_factory(routes_dir=routes, components=[]) as live:
        app = live.server.config.app
        app.runtime.handlers["echo"] = echo

        def call(**kw) -> str:
            return httpx.post(f"{live.url}{PATH}", content=envelope(**kw)).headers["x-simulator-exchange-id"]

        found: list[dict] = []
        with httpx.stream("GET", f"{live.url}/ui/traffic/stream", params={"status": "fault"}, timeout=10) as r:
            assert r.headers["content-type"].startswith("text/event-stream")
            reader = threading.Thread(target=_events, args=(r, 1, found))
            reader.start()
            feed = feed_of(app.runtime)
            deadline = time.monotonic() + 5
            while not feed.subscribers:
                assert time.monotonic() < deadline
                time.sleep(0.01)
            call()  # ok: filtered out
            refused = call(agreement=AGREEMENT_OTHER_SYSTEM)
            reader.join(timeout=10)
        assert len(found) == 1 and f'data-id="{refused}"' in found[0]["data"]
        deadline = time.monotonic() + 5
        while feed.subscribers:  # the disconnected client's subscription is dropped
            assert time.monotonic() < deadline, "subscriber not removed after disconnect"
            time.sleep(0.01)

        # exchanges recorded while no one listened are replayed to a client that says where it was
        missed = [call(agreement=AGREEMENT_OTHER_SYSTEM, text=f"m{i}") for i in range(3)]
        replayed: list[dict] = []
        headers = {"last-event-id": found[0]["id"]}
        with httpx.stream(
            "GET", f"{live.url}/ui/traffic/stream", params={"status": "fault"}, headers=headers, timeout=10
        ) as r:
            _events(r, 3, replayed)
        assert [e["data"].split('data-id="')[1][:36] for e in replayed] == missed


async def test_with_an_admin_token_the_ui_asks_for_it_once(sim_factory, tmp_path):
    routes = write_routes(tmp_path / "ping-routes", "builtin:echo")
    async with sim_factory(components=[], routes_dir=routes, admin_token="s3cret") as sim:
        r = await sim.client.get("/ui/config")
        assert r.status_code == 303 and r.headers["location"] == "/ui/login?next=/ui/config"
        assert (await sim.client.get("/ui/traffic/stream")).status_code == 401
        login_page = (await sim.client.get("/ui/login?next=/ui/config")).text  # sets the CSRF cookie
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', login_page).group(1)
        form = {"token": "wrong", "next": "/ui/config", "csrf_token": csrf}
        r = await sim.client.post("/ui/login", data=form)
        assert r.status_code == 303 and "wrong+token" in r.headers["location"]
        r = await sim.client.post("/ui/login", data=form | {"token": "s3cret"})
        assert r.status_code == 303 and r.headers["location"] == "/ui/config"
        assert (await sim.client.get("/ui/config")).status_code == 200  # the cookie now
        assert (await sim.client.get("/api/routes")).status_code == 401  # the API still wants the header
        r = await sim.client.post("/ui/login", data=form | {"token": "s3cret", "next": "//evil.example/"})
        assert r.headers["location"] == "/"


def test_xml_is_indented_highlighted_and_escaped():
    html = str(highlight_xml(pretty_xml('<a x="1&amp;2"><script>alert(1)</script><b>&lt;i&gt;</b><!-- c --></a>')))
    assert "<script" not in html and "&lt;script" in html and "<i>" not in html
    assert "&amp;lt;i&amp;gt;" in html  # the XML source, shown as it is
    assert '<span class="xa">x</span>' in html and '<span class="xc">&lt;!-- c --&gt;</span>' in html
    assert "\n  <span" in html  # indented
    raw = "<a><b>cut off"
    assert pretty_xml(raw) == raw and "cut off" in str(highlight_xml(raw))


async def test_the_outcome_filter_selects_ok_business_refusals_and_faults(sim_factory, tmp_path, backend):
    """On both database engines: a Forretningskvittering AFVIST/FEJLET in a delivered answer is a business
    refusal with its FejlKode, a SOAP fault a platform fault, anything else ok."""
    kv = "http://serviceplatformen.dk/xml/schemas/kvittering/1/"
    refusal = (
        f'<r xmlns:kv="{kv}"><kv:Forretningskvittering><kv:ForretningsValideringsKode>FEJLET'
        "</kv:ForretningsValideringsKode><kv:FejlListe><kv:Fejl><kv:FejlKode>KY-DA-001</kv:FejlKode>"
        "<kv:FejlTekst>no claim</kv:FejlTekst></kv:Fejl></kv:FejlListe></kv:Forretningskvittering></r>"
    )
    routes = write_routes(tmp_path / "ping-routes", "builtin:echo")
    async with sim_factory(backend=backend, components=[], routes_dir=routes) as sim:
        t0 = datetime(2024, 1, 1, tzinfo=UTC)
        rows = [_row(i, t0) for i in (1, 2, 10)]  # 10: a fault
        rows[1]["response_body"] = refusal
        async with sim.rt.db.session() as s, s.begin():
            await s.execute(insert(ExchangeRow.__table__), rows)
        found = {}
        for outcome in ("ok", "refusal", "fault"):
            r = (await sim.client.get("/ui/traffic/rows", params={"outcome": outcome})).json()
            found[outcome] = [i for i, _ in ROW_ID.findall(r["rows"])]
            if outcome == "refusal":
                assert "business refusal · FEJLET · KY-DA-001" in r["rows"]
        assert found == {"ok": [rows[0]["id"]], "refusal": [rows[1]["id"]], "fault": [rows[2]["id"]]}
        r = (await sim.client.get("/ui/traffic/rows", params={"outcome": "maybe"})).json()
        assert r["count"] == 0 and "outcome: 'maybe' is not one of ok, refusal, fault" in r["problems"]
