"""Finding 3: no cross-site writes. Another site's page (or another port of 127.0.0.1, or a DNS-rebound name)
cannot re-point a route, post a UI form, book through a SOAP service or read the admin token from the cookie;
the UI's answers carry the headers that keep it out of frames and inline script out of it."""

from __future__ import annotations

import re
from urllib.parse import unquote

import pytest
from lxml import etree

from tests.serviceplatform.pingservice import CVR, envelope, write_routes

PATH = "/service/Test/Ping/1"
ATTACKER = "http://127.0.0.1:9999"  # another port of the same host: same site, another origin
ROUTE = {"service": "Ping", "municipality": CVR, "target": "http://127.0.0.1:9999/steal"}


@pytest.fixture
def guarded(sim_factory, tmp_path):
    def factory(**overrides):
        return sim_factory(routes_dir=write_routes(tmp_path / "routes", "builtin:nothing"), components=[], **overrides)

    return factory


async def targets(sim) -> set[str]:
    return {r["target"] for r in (await sim.client.get("/api/routes")).json()}


def csrf_of(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, "the page's form carries no CSRF token"
    return match.group(1)


@pytest.mark.parametrize(
    "headers",
    [
        {"origin": ATTACKER},
        {"origin": "https://evil.example"},
        {"origin": "null"},
        {"sec-fetch-site": "cross-site"},
        {"sec-fetch-site": "same-site"},
    ],
)
async def test_a_cross_site_write_to_the_admin_api_is_refused(guarded, headers):
    async with guarded() as sim:
        r = await sim.client.put("/api/routes", json=ROUTE, headers=headers)
        assert r.status_code == 403 and "cross-site" in r.text
        r = await sim.client.delete("/api/exchanges", headers=headers)
        assert r.status_code == 403
        assert ROUTE["target"] not in await targets(sim)


async def test_same_origin_and_programs_without_origin_still_write(guarded):
    async with guarded() as sim:
        own = {"origin": sim.settings.base_url, "sec-fetch-site": "same-origin"}
        assert (await sim.client.put("/api/routes", json=ROUTE, headers=own)).status_code == 200
        assert (await sim.client.put("/api/routes", json=ROUTE)).status_code == 200  # curl, the CLI
        assert ROUTE["target"] in await targets(sim)


async def test_a_ui_form_needs_the_pages_csrf_token(guarded):
    async with guarded() as sim:
        form = {"service": "Ping", "municipality": CVR, "target": ROUTE["target"]}
        r = await sim.client.post("/ui/config/routes", data=form)
        assert r.status_code == 403 and "CSRF" in r.text
        page = await sim.client.get("/ui/config")
        cookie = page.headers["set-cookie"]
        assert "simulator_csrf=" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
        token = csrf_of(page.text)
        r = await sim.client.post("/ui/config/routes", data=form | {"csrf_token": token + "0"})
        assert r.status_code == 403
        assert ROUTE["target"] not in await targets(sim)
        r = await sim.client.post("/ui/config/routes", data=form | {"csrf_token": token})
        assert r.status_code == 303 and "saved" in unquote(r.headers["location"])
        assert ROUTE["target"] in await targets(sim)
        # a page of another port that plants its own cookie and token is still refused by its Origin
        r = await sim.client.post("/ui/config/routes", data=form | {"csrf_token": token}, headers={"origin": ATTACKER})
        assert r.status_code == 403


async def test_the_login_cookie_is_not_the_admin_token(guarded):
    async with guarded(admin_token="s3cret-admin-token") as sim:
        token = csrf_of((await sim.client.get("/ui/login")).text)
        r = await sim.client.post("/ui/login", data={"token": "s3cret-admin-token", "next": "/", "csrf_token": token})
        assert r.status_code == 303
        session = sim.client.cookies["simulator_admin"]
        assert "s3cret" not in session
        assert (await sim.client.get("/ui/config")).status_code == 200
        # the raw token as cookie (the old format) or a forged session value opens nothing
        for forged in ("s3cret-admin-token", session.split(".")[0] + ".00", "x.y"):
            sim.client.cookies.set("simulator_admin", forged)
            assert (await sim.client.get("/ui/config")).status_code == 303
    async with guarded(admin_token="another-token") as other:  # a changed token ends the session
        other.client.cookies.set("simulator_admin", session)
        assert (await other.client.get("/ui/config")).status_code == 303


async def test_a_foreign_host_name_is_refused_dns_rebinding(guarded):
    async with guarded() as sim:
        rebound = {"host": "attacker.example:8000"}
        assert (await sim.client.get("/api/routes", headers=rebound)).status_code == 400
        r = await sim.client.post(PATH, content=envelope(), headers=rebound | {"content-type": "text/xml"})
        assert r.status_code == 400 and "SIMULATOR_ALLOWED_HOSTS" in r.text
        for name in ("localhost:8000", "127.0.0.1", "[::1]:8000"):
            assert (await sim.client.get("/api/routes", headers={"host": name})).status_code == 200
    async with guarded(allowed_hosts="sim.test, other.test") as sim:
        assert (await sim.client.get("/api/routes", headers={"host": "sim.test:8000"})).status_code == 200
        assert (await sim.client.get("/api/routes", headers={"host": "attacker.example"})).status_code == 400


@pytest.mark.parametrize(
    ("content_type", "faultcode"),
    [
        ("text/plain", "soap:Client"),
        ("application/x-www-form-urlencoded", "soap:Client"),
        ("multipart/form-data; boundary=x", "soap:Client"),
        ("application/soap+xml; charset=utf-8", "soap:VersionMismatch"),
    ],
)
async def test_soap_services_take_only_text_xml(guarded, content_type, faultcode):
    async with guarded() as sim:
        r = await sim.client.post(PATH, content=envelope(), headers={"content-type": content_type})
        fault = etree.fromstring(r.content).find(".//faultcode")
        assert r.status_code == 500 and fault.text == faultcode
        assert "SP-103" in r.text and "text/xml" in r.text
        recorded = (await sim.client.get(f"/api/exchanges/{r.headers['x-simulator-exchange-id']}")).json()
        assert recorded["fault_code"] == "SP-103"
        r = await sim.client.post(PATH, content=envelope(), headers={"content-type": "text/xml; charset=utf-8"})
        assert "SP-103" not in r.text


async def test_beskedfordeler_afsend_takes_only_xml(sim_factory):
    async with sim_factory() as sim:
        for content_type in ("text/plain", "application/x-www-form-urlencoded"):
            r = await sim.client.post("/beskedfordeler/afsend", content=b"<x/>", headers={"content-type": content_type})
            assert r.status_code == 415 and "application/xml" in r.text
        r = await sim.client.post(
            "/beskedfordeler/afsend", content=b"<x/>", headers={"content-type": "application/xml"}
        )
        assert r.status_code == 200 and "<StatusKode>40</StatusKode>" in r.text.replace("ns0:", "")


async def test_ui_pages_carry_security_headers_and_no_inline_script(guarded):
    async with guarded() as sim:
        for path in ("/", "/ui/config", "/ui/login", "/ui/scenarios"):
            r = await sim.client.get(path)
            csp = r.headers["content-security-policy"]
            directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
            assert directives["script-src"] == "'self'" and directives["frame-ancestors"] == "'self'"
            assert r.headers["x-content-type-options"] == "nosniff"
            assert r.headers["referrer-policy"] == "same-origin"
            assert r.headers["x-frame-options"] == "SAMEORIGIN"
            if r.status_code == 200:
                assert not re.search(r"<script(?![^>]*\bsrc=)", r.text), f"{path} has an inline script"
                assert not re.search(r"\son[a-z]+\s*=", r.text), f"{path} has an inline event handler"
                assert "javascript:" not in r.text
