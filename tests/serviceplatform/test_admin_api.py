"""The admin API: routes and agreements at run time, fault injection, verification, paging, limits."""

from __future__ import annotations

import time

import httpx
import pytest
from lxml import etree

from tests.serviceplatform.pingservice import AGREEMENT, CVR, envelope
from tests.serviceplatform.test_pipeline import PATH, SPF, echo


def code_of(r: httpx.Response) -> str | None:
    return etree.fromstring(r.content).findtext(f".//{{{SPF}}}ErrorCode")


async def test_agreement_edits_change_the_next_call_and_survive_a_restart(sim_factory, ping_routes, backend):
    async with sim_factory(backend=backend, routes_dir=ping_routes) as sim:
        sim.rt.handlers["echo"] = echo
        assert (
            await sim.client.put("/api/routes", json={"service": "Ping", "municipality": CVR, "target": "builtin:echo"})
        ).status_code == 200
        assert (await sim.client.post(PATH, content=envelope())).status_code == 200
        ag = {"uuid": AGREEMENT, "system": "caller", "municipality": CVR, "service": "Ping", "active": False}
        r = await sim.client.put("/api/agreements", json=ag)
        assert r.status_code == 200 and r.json()["origin"] == "api"
        assert code_of(await sim.client.post(PATH, content=envelope())) == "SP-135"

        # a restart re-reads the route files but keeps what was edited through the API
        await sim.rt.stop()
        await sim.rt.start()
        sim.rt.handlers["echo"] = echo
        routes = {r["id"]: r for r in (await sim.client.get("/api/routes")).json()}
        assert routes[f"Ping:{CVR}"]["target"] == "builtin:echo"
        assert code_of(await sim.client.post(PATH, content=envelope())) == "SP-135"
        assert (await sim.client.delete(f"/api/agreements/{AGREEMENT}")).status_code == 200
        assert code_of(await sim.client.post(PATH, content=envelope())) == "SP-130"


async def test_bad_edits_are_refused_with_a_reason(sim_factory, ping_routes):
    async with sim_factory(routes_dir=ping_routes) as sim:
        r = await sim.client.put("/api/routes", json={"service": "Nope", "municipality": CVR, "target": "builtin:x"})
        assert r.status_code == 422 and "unknown service 'Nope'" in r.text
        r = await sim.client.put(
            "/api/routes", json={"service": "Ping", "municipality": "99999999", "target": "builtin:x"}
        )
        assert r.status_code == 422 and "unknown municipality '99999999'" in r.text
        r = await sim.client.put("/api/routes", json={"service": "Ping", "municipality": CVR, "target": "ftp://x"})
        assert r.status_code == 422 and "must be builtin:<handler> or an http(s):// URL" in r.text
        r = await sim.client.put(
            "/api/agreements",
            json={"uuid": "not-a-uuid", "system": "caller", "municipality": CVR, "service": "Ping"},
        )
        assert r.status_code == 422 and "not a lower-case UUID" in r.text
        r = await sim.client.put(
            "/api/agreements",
            json={"uuid": AGREEMENT, "system": "nobody", "municipality": CVR, "service": "Ping"},
        )
        assert r.status_code == 422 and "unknown system 'nobody'" in r.text
        assert (await sim.client.put("/api/routes/Nope:1/fault", json={"delay_ms": 1})).status_code == 404
        assert (await sim.client.delete("/api/agreements/nope")).status_code == 404


async def test_fault_injection_per_route(sim_factory, ping_routes):
    async with sim_factory(routes_dir=ping_routes) as sim:
        sim.rt.handlers["echo"] = echo
        await sim.client.put("/api/routes", json={"service": "Ping", "municipality": CVR, "target": "builtin:echo"})
        rid = f"Ping:{CVR}"

        await sim.client.put(f"/api/routes/{rid}/fault", json={"soap_fault": "KY-TEST-9"})
        r = await sim.client.post(PATH, content=envelope())
        assert r.status_code == 500 and code_of(r) == "KY-TEST-9"

        await sim.client.put(f"/api/routes/{rid}/fault", json={"http_status": 503})
        r = await sim.client.post(PATH, content=envelope())
        assert r.status_code == 503

        await sim.client.put(f"/api/routes/{rid}/fault", json={"delay_ms": 300})
        t = time.perf_counter()
        r = await sim.client.post(PATH, content=envelope())
        assert r.status_code == 200 and time.perf_counter() - t >= 0.3

        await sim.client.put(f"/api/routes/{rid}/fault", json={})
        assert (await sim.client.post(PATH, content=envelope())).status_code == 200

        faults = [x["fault_code"] for x in (await sim.client.get("/api/exchanges")).json()["items"]]
        assert faults == [None, None, "HTTP-503", "KY-TEST-9"]
        decisions = [x["decision"] for x in (await sim.client.get("/api/exchanges")).json()["items"]]
        assert decisions == ["handled", "handled", "injected", "injected"]


def test_dropped_connection_injection_reaches_a_real_client_as_a_broken_connection(live_factory, ping_routes):
    with live_factory(routes_dir=ping_routes) as live:
        httpx.put(f"{live.url}/api/routes/Ping:{CVR}/fault", json={"drop_connection": True}).raise_for_status()
        with pytest.raises(httpx.RemoteProtocolError):
            httpx.post(f"{live.url}{PATH}", content=envelope())
        ex = httpx.get(f"{live.url}/api/exchanges").json()["items"][0]
        assert ex["decision"] == "injected" and "dropped" in ex["reason"]
        assert httpx.get(f"{live.url}/healthz").json()["ok"] is True


async def test_verification_says_what_matched_when_it_fails(sim_factory, ping_routes):
    async with sim_factory(routes_dir=ping_routes) as sim:
        sim.rt.handlers["echo"] = echo
        await sim.client.put("/api/routes", json={"service": "Ping", "municipality": CVR, "target": "builtin:echo"})
        for _ in range(2):
            await sim.client.post(PATH, content=envelope())
        ok = (await sim.client.post("/api/verify", json={"service": "Ping", "status": "ok", "count": 2})).json()
        assert ok["ok"] is True and ok["found"] == 2
        bad = (await sim.client.post("/api/verify", json={"service": "Ping", "municipality": "87654321"})).json()
        assert bad["ok"] is False and bad["found"] == 0
        assert bad["matches_per_criterion"] == {"service": 2, "municipality": 0}
        assert len(bad["recent"]) == 2


async def test_filters_and_keyset_pages(sim_factory, ping_routes):
    async with sim_factory(routes_dir=ping_routes) as sim:
        sim.rt.handlers["echo"] = echo
        await sim.client.put("/api/routes", json={"service": "Ping", "municipality": CVR, "target": "builtin:echo"})
        for i in range(7):
            await sim.client.post(PATH, content=envelope(call_id=f"k{i}"))
        await sim.client.post(PATH, content=b"<broken")
        assert len((await sim.client.get("/api/exchanges", params={"status": "fault"})).json()["items"]) == 1
        assert len((await sim.client.get("/api/exchanges", params={"fault_code": "SP-100"})).json()["items"]) == 1
        page1 = (await sim.client.get("/api/exchanges", params={"status": "ok", "limit": 5})).json()
        page2 = (
            await sim.client.get("/api/exchanges", params={"status": "ok", "limit": 5, "before": page1["next_before"]})
        ).json()
        ids = [x["callers_call_id"] for x in page1["items"] + page2["items"]]
        assert ids == [f"k{i}" for i in reversed(range(7))] and page2["next_before"] is None
        assert (await sim.client.get("/api/exchanges/nope")).status_code == 404

        # a cursor beyond any row number the databases store is refused with a reason, not a server error
        # (found by tests/web/test_openapi_fuzz.py: SQLite cannot bind an integer above 2**63 - 1)
        newest = await sim.client.get("/api/exchanges", params={"limit": 1, "before": 2**63 - 1})
        assert newest.status_code == 200 and len(newest.json()["items"]) == 1
        too_far = await sim.client.get("/api/exchanges", params={"before": 2**63})
        assert too_far.status_code == 422 and "before" in str(too_far.json()["detail"])
        rows = (await sim.client.get("/ui/traffic/rows", params={"before": str(2**63)})).json()
        assert rows["problems"] == [f"before: '{2**63}' is not a row number"]
        assert (await sim.client.delete("/api/exchanges")).json() == {"deleted": 8}


async def test_large_bodies_are_truncated_with_a_marker_and_retention_keeps_the_newest(sim_factory, ping_routes):
    async with sim_factory(
        routes_dir=ping_routes, record_body_max_bytes=1000, retention_max_exchanges=10, record_batch_size=5
    ) as sim:
        sim.rt.handlers["echo"] = echo
        await sim.client.put("/api/routes", json={"service": "Ping", "municipality": CVR, "target": "builtin:echo"})
        r = await sim.client.post(PATH, content=envelope(text="y" * 5000))
        ex = (await sim.client.get(f"/api/exchanges/{r.headers['x-simulator-exchange-id']}")).json()
        assert ex["request_truncated"] is True and "body truncated at 1000 of" in ex["request_body"]
        for i in range(40):
            await sim.client.post(PATH, content=envelope(call_id=f"r{i}"))
        await sim.rt.recorder.flush()
        items = (await sim.client.get("/api/exchanges", params={"limit": 100})).json()["items"]
        assert 10 <= len(items) < 41  # pruned, in steps of a batch
        assert items[0]["callers_call_id"] == "r39"


async def test_admin_token_protects_the_admin_api_but_not_the_services(sim_factory, ping_routes):
    async with sim_factory(routes_dir=ping_routes, admin_token="s3cret") as sim:
        assert (await sim.client.get("/api/exchanges")).status_code == 401
        ok = await sim.client.get("/api/exchanges", headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200
        assert (await sim.client.post(PATH, content=envelope())).status_code in (200, 500)


async def test_healthz_reports_database_state(sim_factory, ping_routes):
    async with sim_factory(routes_dir=ping_routes) as sim:
        h = (await sim.client.get("/healthz")).json()
        assert h["ok"] is True and h["database"] == {"ok": True, "dialect": "sqlite"}

        async def down() -> bool:
            return False

        sim.rt.db.ping = down
        r = await sim.client.get("/healthz")
        assert r.status_code == 503 and r.json()["ok"] is False


async def test_two_processes_on_one_database_see_each_others_edits(sim_factory, ping_routes, backend):
    """Scale-out: an agreement switched off through one simulator refuses calls on the other."""
    async with sim_factory(backend=backend, routes_dir=ping_routes) as a:
        b_app = __import__("simulator.app", fromlist=["create_app"]).create_app(
            a.settings.model_copy(update={"config_refresh_s": 0.05}), db_schema=a.rt.db.schema
        )
        await b_app.runtime.start()
        try:
            b_app.runtime.handlers["echo"] = echo
            await a.client.put("/api/routes", json={"service": "Ping", "municipality": CVR, "target": "builtin:echo"})
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=b_app), base_url=a.settings.base_url) as b:
                deadline = time.monotonic() + 10
                while (await b.post(PATH, content=envelope())).status_code != 200:
                    assert time.monotonic() < deadline, "the other process never saw the new route"
                ag = {"uuid": AGREEMENT, "system": "caller", "municipality": CVR, "service": "Ping", "active": False}
                await a.client.put("/api/agreements", json=ag)
                deadline = time.monotonic() + 10
                while code_of(await b.post(PATH, content=envelope())) != "SP-135":
                    assert time.monotonic() < deadline, "the other process never saw the agreement edit"
        finally:
            await b_app.runtime.stop()
