"""Issue 19 item 3: every page fits a 1,280 px wide window (long values wrap or fold, no horizontal scroll),
and durations read as people write them."""

from __future__ import annotations

import re

import pytest

from tests.web.conftest import every_page, finished_readiness_run, screenshot

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips these tests (locally) or fails them (CI)
    expect = None

SIDEWAYS = """() => {
  const out = [];
  const doc = document.scrollingElement;
  if (doc.scrollWidth > doc.clientWidth) out.push(`page: ${doc.scrollWidth} > ${doc.clientWidth}`);
  for (const el of document.querySelectorAll("body *")) {  // nor a box that scrolls sideways inside the page
    const x = getComputedStyle(el).overflowX;
    if (el.getBoundingClientRect().right <= 0) continue;  // kept off-screen on purpose (the curl text)
    if ((x === "auto" || x === "scroll") && el.scrollWidth > el.clientWidth + 1)
      out.push(`${el.tagName}#${el.id}.${el.className}: ${el.scrollWidth} > ${el.clientWidth}`);
  }
  return out;
}"""
HUMAN_DURATION = re.compile(r"^(\d+\.\d ms|\d+\.\d\d s|\d+ min \d+ s|—)$")


@pytest.fixture(scope="module")
def pages(seeded) -> list[str]:
    finished_readiness_run(seeded)  # a finished run in the scenarios page
    return every_page(seeded)


def test_no_page_scrolls_sideways_at_1280_px(seeded, pages, new_page):
    page = new_page()
    page.set_viewport_size({"width": 1280, "height": 800})
    wide = {}
    for path in pages:
        page.goto(f"{seeded.url}{path}")
        page.wait_for_load_state("load")
        for d in page.locator("details").all():  # folded long values count when open
            d.evaluate("e => e.open = true")
        sizes = page.evaluate(SIDEWAYS)
        if sizes:
            wide[path] = sizes
    assert wide == {}, f"scrolls sideways (what: scrollWidth > clientWidth): {wide}"
    page.goto(f"{seeded.url}/")
    screenshot(page, "traffic-1280")


def test_durations_read_as_people_write_them(seeded, new_page):
    page = new_page()
    page.goto(f"{seeded.url}/")
    cells = page.locator("#rows td.num").all_inner_texts()
    assert cells and all(HUMAN_DURATION.match(c) for c in cells), cells
    page.goto(f"{seeded.url}/ui/traffic/{seeded.coverage_exchange}")
    assert HUMAN_DURATION.match(page.locator("#duration").inner_text()), page.locator("#duration").inner_text()
