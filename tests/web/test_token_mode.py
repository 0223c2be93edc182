"""Issue 19 item 4: with SIMULATOR_ADMIN_TOKEN set, the logged-in UI opens every report and download it
links to (they are served behind the UI's login, not under /api, which wants a Bearer header); logging out
closes them again."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.web.conftest import Seeded, finished_readiness_run, screenshot, seeded_simulator

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips these tests (locally) or fails them (CI)
    expect = None

TOKEN = "t0ken-for-the-ui-test"


@pytest.fixture(scope="module")
def locked(tmp_path_factory) -> Iterator[tuple[Seeded, dict]]:
    with seeded_simulator(tmp_path_factory.mktemp("token"), admin_token=TOKEN) as s:
        yield s, finished_readiness_run(s)


def log_in(page, url: str, target: str = "/ui/scenarios") -> None:
    page.goto(f"{url}{target}")
    assert page.url.startswith(f"{url}/ui/login?next="), page.url
    page.get_by_label("Admin token").fill(TOKEN)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{url}{target}")


def test_the_logged_in_ui_opens_every_report_link_and_logging_out_closes_them(locked, new_page):
    s, run = locked
    assert httpx.get(f"{s.url}/api/scenarios/runs/{run['id']}/report.json").status_code == 401  # /api: Bearer only
    page = new_page()
    log_in(page, s.url)
    row = page.locator(f'#runs tr[data-run="{run["id"]}"]')
    expect(row).to_have_attribute("data-state", "finished")
    links = row.locator("a[href*='/report.']")
    hrefs = links.evaluate_all("as => as.map(a => a.getAttribute('href'))")
    assert sorted(h.rsplit(".", 1)[1] for h in hrefs) == ["html", "json", "xml"], hrefs
    for href in hrefs:  # each link, with the browser's login cookie
        answer = page.request.get(f"{s.url}{href}")
        assert answer.status == 200, (href, answer.status, answer.text()[:200])
        kind = href.rsplit(".", 1)[1]
        assert {"html": "SA 05 Debitor readiness", "json": '"verdict"', "xml": "<testsuite"}[kind] in answer.text()

    page.goto(f"{s.url}/ui/readiness")  # the readiness matrix links into the same reports
    matrix = page.locator(f'table.readiness-matrix a[href*="/runs/{run["id"]}/report.html"]')
    matrix_hrefs = matrix.evaluate_all("as => as.map(a => a.getAttribute('href'))")
    assert matrix_hrefs, "the matrix links no report of the run"
    for href in {h.split("#")[0] for h in matrix_hrefs}:
        answer = page.request.get(f"{s.url}{href}")
        assert answer.status == 200 and "SA 05 Debitor readiness" in answer.text(), (href, answer.status)
    page.goto(f"{s.url}/ui/scenarios")
    row = page.locator(f'#runs tr[data-run="{run["id"]}"]')

    with page.expect_popup() as popup:  # the HTML report in its own tab
        row.locator("a.report").click()
    expect(popup.value.locator("h1")).to_contain_text("SA 05 Debitor readiness")
    popup.value.close()
    row.locator("button.show-report").click()  # … and in the page
    expect(page.frame_locator("#report-frame").locator("h1")).to_contain_text("SA 05 Debitor readiness")
    screenshot(page, "token-mode-reports")

    # every page's header has a logout; afterwards the pages and the reports ask for the token again
    page.locator("#logout button").click()
    expect(page.get_by_label("Admin token")).to_be_visible()
    for href in hrefs:
        page.goto(f"{s.url}{href}")
        expect(page.get_by_label("Admin token")).to_be_visible()
    page.goto(f"{s.url}/ui/scenarios")
    expect(page.get_by_label("Admin token")).to_be_visible()
