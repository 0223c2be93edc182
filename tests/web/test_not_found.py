"""Issue 19 item 10: an unknown /ui/... path answers an HTML 404 page in the UI's frame (navigation, search)."""

from __future__ import annotations

import httpx

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips these tests (locally) or fails them (CI)
    expect = None


def test_an_unknown_ui_path_answers_an_html_404_page(live, new_page):
    r = httpx.get(f"{live.url}/ui/no/such/page")
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
    page = new_page()
    answer = page.goto(f"{live.url}/ui/no-such-page")
    assert answer.status == 404
    expect(page.locator("h1")).to_have_text("Not found")
    expect(page.locator("#not-found")).to_contain_text("page /ui/no-such-page")
    expect(page.locator("nav a[data-nav=traffic]")).to_be_visible()
    page.goto(f"{live.url}/ui/traffic/not-an-exchange")  # a known page group, an unknown item
    expect(page.locator("#not-found")).to_contain_text("exchange not-an-exchange")
    page.goto(f"{live.url}/ui/ky/accounts/00000000-0000-4000-8000-000000000000")
    expect(page.locator("#not-found")).to_contain_text("debtor account 00000000-0000-4000-8000-000000000000")
    assert httpx.get(f"{live.url}/api/no-such-endpoint").headers["content-type"] == "application/json"
