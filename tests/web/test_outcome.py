"""Issue 19 item 2: the traffic list's outcome column tells ok, a business refusal (Forretningskvittering
AFVIST/FEJLET with its FejlKode) and a platform fault apart, looks different for each, and filters by each;
the live feed shows the outcome of a call made while the page is open."""

from __future__ import annotations

from tests.ky.messages import PATH as COVERAGE_PATH
from tests.ky.messages import action, coverage
from tests.web.conftest import screenshot

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips these tests (locally) or fails them (CI)
    expect = None


def row(page, ex_id: str):
    return page.locator(f'#rows tr[data-id="{ex_id}"]')


def test_a_business_refusal_is_not_shown_as_success_and_each_outcome_has_a_filter(seeded, new_page):
    page = new_page()
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{seeded.url}/")
    refusal, fault, ok = row(page, seeded.refusal_exchange), row(page, seeded.fault_exchange), None
    expect(refusal.locator(".badge.outcome")).to_have_text("business refusal · AFVIST · KY-DA-004")
    expect(fault.locator(".badge.outcome")).to_contain_text("platform fault · SP-")
    ok = row(page, seeded.coverage_exchange)
    expect(ok.locator(".badge.outcome")).to_have_text("ok")
    colours = {
        name: r.locator(".badge.outcome").evaluate("e => getComputedStyle(e).backgroundColor")
        for name, r in (("refusal", refusal), ("fault", fault), ("ok", ok))
    }
    assert len(set(colours.values())) == 3, colours  # three looks, not one green
    assert refusal.evaluate("e => getComputedStyle(e.cells[0]).boxShadow") != "none"  # a marked row
    screenshot(page, "traffic-outcomes")

    all_rows = page.locator("#rows tr").count()
    page.select_option("select[name=outcome]", "refusal")
    expect(page.locator("#rows tr")).to_have_count(1)
    expect(refusal).to_be_visible()
    assert "outcome=refusal" in page.url
    page.select_option("select[name=outcome]", "fault")
    expect(page.locator("#rows tr")).to_have_count(1)
    expect(fault).to_be_visible()
    page.select_option("select[name=outcome]", "ok")
    expect(page.locator("#rows tr")).to_have_count(all_rows - 2)
    expect(ok).to_be_visible()
    assert page.locator('#rows tr[data-outcome="refusal"], #rows tr[data-outcome="fault"]').count() == 0

    # a refusal made now arrives live in the refusal list, marked as one
    page.select_option("select[name=outcome]", "refusal")
    expect(page.locator("#rows tr")).to_have_count(1)
    expect(page.locator("#live")).to_have_attribute("data-state", "connected")
    headers = {"content-type": "text/xml; charset=utf-8", "soapaction": action()}
    r = seeded.post(COVERAGE_PATH, content=coverage(seeded.claim, "10.00", subclaim=seeded.claim), headers=headers)
    assert r.status_code == 200 and b"KY-DA-003" in r.content, r.text
    expect(page.locator("#rows tr")).to_have_count(2)
    expect(page.locator("#rows tr").first.locator(".badge.outcome.refusal")).to_contain_text("KY-DA-003")


def test_the_exchange_detail_names_the_refusal_and_its_code(seeded, new_page):
    page = new_page()
    page.goto(f"{seeded.url}/ui/traffic/{seeded.refusal_exchange}")
    expect(page.locator("#outcome")).to_have_text("business refusal · AFVIST · KY-DA-004")
    expect(page.locator("#outcome")).to_have_class("badge big outcome refusal")
    page.goto(f"{seeded.url}/ui/traffic/{seeded.fault_exchange}")
    expect(page.locator("#outcome")).to_contain_text("platform fault · SP-")
