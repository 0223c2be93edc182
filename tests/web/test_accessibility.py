"""Issue 19 item 9: axe-core (shipped in axe-playwright-python, no CDN) finds no critical or serious
violation on any page with seeded data, in the light and the dark theme (prefers-color-scheme); a skip link
leads to the content, focus is visible, and "/" focuses the search."""

from __future__ import annotations

import pytest

from tests.web.conftest import every_page, finished_readiness_run, screenshot

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips these tests (locally) or fails them (CI)
    expect = None

BLOCKING = ("critical", "serious")


@pytest.fixture(scope="module")
def pages(seeded) -> list[str]:
    finished_readiness_run(seeded)  # a finished run in the scenarios page
    return every_page(seeded)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_no_critical_or_serious_axe_violation_on_any_page(seeded, pages, new_page, scheme):
    from axe_playwright_python.sync_playwright import Axe

    axe = Axe()
    page = new_page()
    page.emulate_media(color_scheme=scheme)
    found = {}
    for path in pages:
        page.goto(f"{seeded.url}{path}")
        page.wait_for_load_state("load")
        result = axe.run(page).response
        bad = [
            f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']][:5]}"
            for v in result["violations"]
            if v["impact"] in BLOCKING
        ]
        if bad:
            found[path] = bad
    assert found == {}, "\n".join(f"{p}: {v}" for p, v in found.items())
    if scheme == "dark":
        page.goto(f"{seeded.url}/ui/ky/accounts/{seeded.account['uuid']}")
        screenshot(page, "timeline-dark")


def test_the_skip_link_focus_and_the_slash_key(seeded, new_page):
    page = new_page()
    page.goto(f"{seeded.url}/ui/ky")
    page.keyboard.press("Tab")  # the first stop is the skip link, visible when focused
    skip = page.locator("a.skip")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
    outline = skip.evaluate("e => getComputedStyle(e).outlineStyle + ' ' + getComputedStyle(e).outlineWidth")
    assert outline.startswith("solid") and not outline.endswith(" 0px"), outline
    page.keyboard.press("Enter")
    expect(page.locator("#main")).to_be_focused()

    page.keyboard.press("Tab")  # a focused control shows a visible outline
    width = page.evaluate("() => getComputedStyle(document.activeElement).outlineWidth")
    assert width not in ("0px", ""), width

    page.locator("h1").click()
    page.keyboard.press("/")  # "/" focuses the search: the account search here …
    expect(page.locator("#find-account")).to_be_focused()
    page.goto(f"{seeded.url}/")
    page.locator("h1").click()
    page.keyboard.press("/")  # … the traffic search on the traffic page
    expect(page.locator("#q")).to_be_focused()
    page.keyboard.type("/x")  # typed into a field, "/" is just a character
    expect(page.locator("#q")).to_have_value("/x")
