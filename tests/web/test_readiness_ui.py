"""Issue 7: a readiness run started from the UI shows its report.

A live simulator (KY, Beskedfordeler, Klassifikation, scenarios) with the demo routes pointed at the
reference debtor system on its own port; the run is started from the page's form, its row updates without
a reload until it has finished, and its HTML report lists every SA 05 item (1a … 3) as passed.
"""

from __future__ import annotations

from examples.reference_debtor.app import Config
from examples.reference_debtor.app import create_app as create_debtor_app
from simulator.app import create_app
from tests.conftest import LiveServer, free_port, make_settings, point_routes_at
from tests.scenarios.conftest import COMPONENTS, CVR, seed_write_off_http
from tests.web.conftest import screenshot

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips this test (locally) or fails it (CI)
    expect = None

ITEMS = ("1a", "1b", "1c", "1d", "1e", "2", "3")


def test_a_readiness_run_started_from_the_ui_shows_its_report(tmp_path, routes_dir, messages_dir, new_page):
    dport, sport = free_port(), free_port()
    point_routes_at(routes_dir, f"http://127.0.0.1:{dport}")
    debtor_app = create_debtor_app(
        Config.from_routes(routes_dir, f"http://127.0.0.1:{sport}", messages_dir=messages_dir)
    )
    settings = make_settings(tmp_path, routes_dir, messages_dir, port=sport, components=COMPONENTS)
    with LiveServer(debtor_app, port=dport) as debtor, LiveServer(create_app(settings), port=sport) as live:
        seed_write_off_http(live.url, debtor.url)  # 1d: the reference debtor writes off only on request
        page = new_page()
        try:
            page.goto(f"{live.url}/ui/scenarios")
            expect(page.locator("#runs")).to_contain_text("No runs yet.")
            page.select_option("#readiness-form select[name=municipality]", CVR)
            page.click("#readiness-form button[type=submit]")
            expect(page.locator(".flash.ok")).to_contain_text(f"readiness run for {CVR} started")

            # from here on the runs panel refreshes itself: a marker on the window shows there was no reload
            page.evaluate("window.__noReload = true")
            row = page.locator("#runs tr[data-run]")
            expect(row).to_have_count(1)
            expect(row).to_contain_text("readiness")
            expect(row).to_contain_text(CVR)
            # wait (with a deadline) until the run has finished
            expect(row).to_have_attribute("data-state", "finished", timeout=60_000)
            assert page.evaluate("window.__noReload === true"), "the page was reloaded"
            expect(row.locator(".badge.pass")).to_have_text("pass")  # the overall verdict

            # the report in the page (iframe) …
            row.locator("button.show-report").click()
            frame = page.frame_locator("#report-frame")
            expect(frame.locator("h1")).to_contain_text("SA 05 Debitor readiness")
            expect(frame.locator("p.big .v")).to_have_text("pass")
            screenshot(page, "readiness", full_page=True)

            # … and in a tab of its own, through the link: every item 1a … 3 is there and passed
            with page.expect_popup() as popup:
                row.locator("a.report").click()
            report = popup.value
            report.wait_for_load_state()
            summary = report.locator("table").first.locator("tr:has(td)")
            expect(summary).to_have_count(len(ITEMS))
            for item in ITEMS:
                line = summary.filter(has=report.locator(f'td:first-child a[href="#item-{item}"]'))
                expect(line).to_have_count(1)
                expect(line.locator(".v")).to_have_text("pass")
            assert "fail" not in report.locator("table").first.inner_text()
        finally:
            page.context.close()
