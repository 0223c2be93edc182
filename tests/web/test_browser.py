"""The web UI in a real browser (headless Chromium), against a live simulator with the test Ping service.

Each test also saves a screenshot of the page it drives (to docs/screenshots/, shown in the README,
when SIMULATOR_SCREENSHOTS=1).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from lxml import etree

from tests.serviceplatform.pingservice import AGREEMENT, AGREEMENT_OTHER_SYSTEM, CVR, envelope, write_routes
from tests.web.conftest import PATH, echo, screenshot

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips these tests (locally) or fails them (CI)
    expect = None

SPF = "http://serviceplatformen.dk/xml/schemas/ServiceplatformFault/1/"


@dataclass
class UI:
    url: str
    page: Any
    app: Any

    def call(self, **kw) -> httpx.Response:
        return httpx.post(f"{self.url}{PATH}", content=envelope(**kw), headers={"content-type": "text/xml"})


def fault_code(r: httpx.Response) -> str | None:
    return etree.fromstring(r.content).findtext(f".//{{{SPF}}}ErrorCode")


@pytest.fixture
def ui(live_factory, tmp_path, new_page) -> Iterator[UI]:
    """A live simulator (core only) with Ping routed to a built-in echo handler, and a browser page.
    The page closes before the server stops (an open event stream would hold the server's shutdown)."""
    routes = write_routes(tmp_path / "ping-routes", "builtin:echo")
    with live_factory(routes_dir=routes, components=[]) as live:
        app = live.server.config.app
        app.runtime.handlers["echo"] = echo
        page = new_page()
        try:
            yield UI(live.url, page, app)
        finally:
            page.context.close()


def test_a_call_made_now_appears_in_the_live_list_without_reload(ui):
    page = ui.page
    assert ui.call(text="before").status_code == 200
    page.goto(f"{ui.url}/")
    expect(page.locator("#live")).to_have_attribute("data-state", "connected")
    page.evaluate("window.__sameDocument = true")

    r = ui.call(text="live", call_id="call-live-1")
    assert r.status_code == 200
    row = page.locator(f'tr[data-id="{r.headers["x-simulator-exchange-id"]}"]')
    expect(row).to_be_visible()
    expect(row).to_contain_text("Ping")
    expect(row).to_contain_text(CVR)
    expect(row).to_contain_text("handled")
    refused = ui.call(agreement=AGREEMENT_OTHER_SYSTEM)
    expect(page.locator(f'tr[data-id="{refused.headers["x-simulator-exchange-id"]}"]')).to_contain_text("refused")
    assert page.evaluate("window.__sameDocument") is True  # no reload happened
    assert page.locator("#rows tr").count() == 3
    screenshot(page, "traffic")


def test_the_live_list_follows_its_filters_and_the_search_is_instant(ui):
    page = ui.page
    ok = ui.call(call_id="find-me-42")
    bad = ui.call(agreement=AGREEMENT_OTHER_SYSTEM, text="1234567890")
    page.goto(f"{ui.url}/")
    expect(page.locator("#rows tr")).to_have_count(2)

    page.select_option("select[name=status]", "fault")  # no submit: the list updates in place
    expect(page.locator("#rows tr")).to_have_count(1)
    expect(page.locator(f'tr[data-id="{bad.headers["x-simulator-exchange-id"]}"]')).to_be_visible()
    expect(page.locator("#live")).to_have_attribute("data-state", "connected")
    ui.call()  # ok: not for this list
    later = ui.call(agreement=AGREEMENT_OTHER_SYSTEM)
    expect(page.locator(f'tr[data-id="{later.headers["x-simulator-exchange-id"]}"]')).to_be_visible()
    expect(page.locator("#rows tr")).to_have_count(2)
    assert "status=fault" in page.url

    page.select_option("select[name=status]", "")
    page.fill("#q", "find-me-42")  # the caller's call id
    expect(page.locator("#rows tr")).to_have_count(1)
    expect(page.locator(f'tr[data-id="{ok.headers["x-simulator-exchange-id"]}"]')).to_be_visible()
    page.fill("#q", "1234567890")  # a CPR number in the request body
    expect(page.locator("#rows tr")).to_have_count(1)
    expect(page.locator(f'tr[data-id="{bad.headers["x-simulator-exchange-id"]}"]')).to_be_visible()
    page.fill("#q", "9876501234")
    expect(page.locator("#rows tr")).to_have_count(0)
    expect(page.locator("#empty")).to_be_visible()


def test_the_detail_view_shows_why_a_call_was_refused(ui):
    page = ui.page
    r = ui.call(agreement=AGREEMENT_OTHER_SYSTEM, call_id="refused-1")
    code = fault_code(r)
    assert r.status_code == 500 and code
    ex_id = r.headers["x-simulator-exchange-id"]
    recorded = httpx.get(f"{ui.url}/api/exchanges/{ex_id}").json()
    assert recorded["reason"]

    page.goto(f"{ui.url}/")
    page.locator(f'tr[data-id="{ex_id}"] a').click()
    expect(page).to_have_url(f"{ui.url}/ui/traffic/{ex_id}")
    expect(page.locator("#decision")).to_have_text("refused")
    expect(page.locator("#reason")).to_have_text(recorded["reason"])
    expect(page.locator("#fault-code")).to_have_text(code)
    expect(page.locator("#context")).to_contain_text(AGREEMENT_OTHER_SYSTEM)
    # pretty-printed and highlighted: one element per line, tags in their own spans
    expect(page.locator("#request-xml .xt").first).to_be_visible()
    assert "\n" in page.locator("#request-xml").inner_text()
    expect(page.locator("#response-xml")).to_contain_text(code)
    screenshot(page, "exchange")

    page.click("#copy-curl")
    expect(page.locator("#copy-curl")).to_have_text("Copied")
    curl = page.evaluate("navigator.clipboard.readText()")
    assert "| curl -sS -X POST" in curl and f"{ui.url}{PATH}" in curl and "refused-1" in curl
    if shutil.which("curl"):  # the copied command reproduces the call
        out = subprocess.run(["bash", "-c", curl], capture_output=True, text=True, timeout=30)
        assert code in out.stdout


def test_an_agreement_edited_in_the_ui_changes_the_next_call(ui):
    page = ui.page
    assert ui.call().status_code == 200
    page.goto(f"{ui.url}/ui/config")
    row = page.locator(f'tr[data-agreement="{AGREEMENT}"]')
    row.get_by_label("active").uncheck()
    row.get_by_role("button", name="Save").click()
    expect(page.locator(".flash.ok")).to_contain_text(f"agreement {AGREEMENT} saved (inactive)")
    r = ui.call()
    assert r.status_code == 500 and fault_code(r) == "SP-135"

    row = page.locator(f'tr[data-agreement="{AGREEMENT}"]')
    row.get_by_label("active").check()
    row.get_by_role("button", name="Save").click()
    expect(page.locator(".flash.ok")).to_contain_text("(active)")
    assert ui.call().status_code == 200

    # fault injection on the route, from the same page
    route = page.locator(f'tr[data-route="Ping:{CVR}"]')
    route.locator("input[name=soap_fault]").fill("KY-UI-7")
    route.get_by_role("button", name="Save").click()
    expect(page.locator(".flash.ok")).to_contain_text("KY-UI-7")
    r = ui.call()
    assert r.status_code == 500 and fault_code(r) == "KY-UI-7"
    screenshot(page, "config")

    # a bad edit is refused with the reason, and changes nothing
    route = page.locator(f'tr[data-route="Ping:{CVR}"]')
    route.locator("input[name=http_status]").fill("200")
    route.get_by_role("button", name="Save").click()
    expect(page.locator(".flash.err")).to_contain_text("HTTP status: Input should be greater than or equal to 400")
    assert fault_code(ui.call()) == "KY-UI-7"


def test_component_pages_say_when_their_component_is_not_loaded(ui):
    page = ui.page
    for path, title in (
        ("/ui/ky", "KY ledger"),
        ("/ui/beskedfordeler", "Beskedfordeler"),
        ("/ui/sortiment", "Sortiments"),
        ("/ui/scenarios", "Scenarios & readiness"),
    ):
        page.goto(f"{ui.url}{path}")
        expect(page.locator("h1")).to_have_text(title)
        expect(page.locator("#unavailable")).to_contain_text("Component not loaded")


def test_ledger_beskedfordeler_and_sortiment_pages(live_factory, messages_dir, new_page):
    """The demo simulator with every component: the views over their admin APIs; a message moved to a
    dueslag's error queue is re-queued from the UI."""
    from tests.beskedfordeler.conftest import PULL_DUESLAG, besked_id, pull_subscription, statusskift

    pull_subscription(messages_dir)
    with live_factory() as live:
        page = new_page()
        try:
            account = httpx.post(
                f"{live.url}/api/ky/accounts",
                json={
                    "municipality": "11111111",
                    "debitor": {"cpr": "0101901234", "name": "Karen Demo"},
                    "claims": [{"amount": "1250.00"}, {"amount": "300.50"}],
                    "send": False,
                },
            )
            assert account.status_code == 200, account.text

            page.goto(f"{live.url}/ui/ky")
            expect(page.locator("h1")).to_have_text("KY ledger")
            acc = page.locator(f'details[data-account="{account.json()["account_uuid"]}"]')
            expect(acc).to_contain_text("Karen Demo")
            expect(acc).to_contain_text("1550.50")
            page.goto(f"{live.url}/ui/ky?party=0101901234")
            expect(page.locator("details.account")).to_have_count(1)
            expect(page.locator("details.account table.claims")).to_contain_text("1250.00")
            screenshot(page, "ky")

            body = statusskift()
            assert (
                b"<StatusKode>20</StatusKode>" in httpx.post(f"{live.url}/beskedfordeler/afsend", content=body).content
            )
            moved = httpx.post(f"{live.url}/api/beskedfordeler/dueslag/{PULL_DUESLAG}/flytbeskedtilfejlkoe", json={})
            assert moved.status_code == 200, moved.text
            page.goto(f"{live.url}/ui/beskedfordeler")
            dueslag = httpx.get(f"{live.url}/api/beskedfordeler/dueslag").json()
            for d in dueslag:
                expect(page.locator(f'tr[data-dueslag="{d["uuid"]}"]')).to_be_visible()
            expect(page.locator("#abonnementer")).to_contain_text("DebitorkontoStatusskift")
            expect(page.locator("#beskeder")).to_contain_text(besked_id(body))
            screenshot(page, "beskedfordeler")

            page.locator(f'tr[data-dueslag="{PULL_DUESLAG}"] a').first.click()
            expect(page.locator("#fejlkoe")).to_contain_text(besked_id(body))
            page.locator("#fejlkoe tbody").get_by_role("button", name="Re-queue").click()
            expect(page.locator(".flash.ok")).to_contain_text("re-queued 1 message(s)")
            expect(page.locator("#fejlkoe")).to_contain_text("Empty.")
            depth = {d["uuid"]: d["depth"] for d in httpx.get(f"{live.url}/api/beskedfordeler/dueslag").json()}
            assert depth[PULL_DUESLAG]["fejlkoe"] == 0 and depth[PULL_DUESLAG]["klar"] == 1
            page.goto(f"{live.url}/ui/beskedfordeler/beskeder/{besked_id(body)}")
            expect(page.locator("pre.xml")).to_contain_text("Haendelsesbesked")

            subs = httpx.get(f"{live.url}/api/klassifikation/subscriptions").json()
            page.goto(f"{live.url}/ui/sortiment")
            for s in subs:
                expect(page.locator(f'tr[data-subscription="{s["id"]}"]')).to_contain_text(s["system"])
            versions = httpx.get(f"{live.url}/api/klassifikation/sortiment/versions").json()
            for v in versions:
                expect(page.locator(f'#versions tr[data-version="{v["version"]}"]')).to_be_visible()
            if len(versions) >= 2:
                page.locator("#diff button").click()
                expect(page.locator("#diff table")).to_be_visible()
            screenshot(page, "sortiment")
        finally:
            page.context.close()
