"""A readiness run started from the UI: progress shown without reload, then its report."""

from __future__ import annotations

from examples.reference_debtor.app import Config
from examples.reference_debtor.app import create_app as create_debtor_app
from simulator.app import create_app
from tests.conftest import LiveServer, free_port, make_settings
from tests.scenarios.conftest import COMPONENTS, CVR, point_routes_at
from tests.web.conftest import screenshot


def test_a_readiness_run_started_from_the_ui_shows_its_report(tmp_path, routes_dir, messages_dir, new_page):
    dport, sport = free_port(), free_port()
    point_routes_at(routes_dir, f"http://127.0.0.1:{dport}")
    debtor_app = create_debtor_app(
        Config.from_routes(routes_dir, f"http://127.0.0.1:{sport}", messages_dir=messages_dir)
    )
    settings = make_settings(tmp_path, routes_dir, messages_dir, port=sport, components=COMPONENTS)
    with LiveServer(debtor_app, port=dport), LiveServer(create_app(settings), port=sport) as live:
        page = new_page()
        page.goto(f"{live.url}/ui/scenarios")
        page.select_option("#readiness-form select[name=municipality]", CVR)
        page.click("#readiness-form button[type=submit]")
        row = page.locator("#runs tr[data-run]").first
        # the runs panel refreshes itself: wait (up to 60 s) until the run has finished, without reloading
        page.wait_for_selector("#runs tr[data-run][data-state=finished]", timeout=60_000)
        assert "readiness" in row.inner_text()
        assert "finished pass" in row.inner_text()  # state and overall verdict
        screenshot(page, "readiness")
        with page.expect_popup() as popup:
            row.locator("a.report").click()
        report = popup.value
        report.wait_for_load_state()
        text = report.inner_text("body")
        assert "SA 05 Debitor readiness" in text
        for item in ("1a", "1b", "1c", "1d", "1e"):
            assert item in text
