"""Issue 19 item 7: near misses. A replay step that waits for a call that never comes shows the calls that
did arrive in its window and came closest, with what differed; a call refused for its service agreement
shows the nearest agreements and the fields that differ."""

from __future__ import annotations

from tests.ky.conftest import OPUS_AGREEMENT
from tests.web.conftest import finished_readiness_run, screenshot, until

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips these tests (locally) or fails them (CI)
    expect = None

# KY pays; the debtor system reports the coverage (RegistrerDaekning), but the scenario waits for a write-off
WAITS_IN_VAIN = """
format: 1
name: waits-for-a-write-off
municipality: "11111111"
variables: {account: uuid, claim: uuid, cpr: cpr, payment: uuid}
steps:
  - id: register
    ky:
      action: create_account
      args: {account_uuid: "${account}", debitor: {cpr: "${cpr}"}, claims: [{uuid: "${claim}", amount: "100.00"}]}
  - id: pay
    ky: {action: pay, args: {claim_uuid: "${claim}", amount: "30.00", payment_uuid: "${payment}"}}
  - id: write-off
    receive:
      service: DaekningAfskrivningRegistreringAfsend
      operation: RegistrerAfskrivning
      within_s: 3
"""


def test_a_step_that_waited_in_vain_shows_the_closest_calls_and_what_differed(seeded, new_page):
    r = seeded.post("/api/scenarios/runs", json={"text": WAITS_IN_VAIN, "municipality": "11111111"})
    assert r.status_code == 202, r.text
    job = r.json()["id"]
    until(
        "the run finished",
        lambda: seeded.get(f"/api/scenarios/runs/{job}", params={"wait": 10}).json()["state"] != "running",
    )
    page = new_page()
    page.goto(f"{seeded.url}/ui/scenarios")
    page.locator(f'#runs tr[data-run="{job}"] a.run-link').click()
    expect(page.locator("#run-verdict")).to_have_text("fail")
    step = page.locator("#steps tr[data-verdict=fail]")
    expect(step).to_contain_text("no call DaekningAfskrivningRegistreringAfsend/RegistrerAfskrivning")
    index = step.get_attribute("data-step")
    misses = page.locator(f'tr[data-near-misses="{index}"] tbody tr')
    expect(misses.first).to_be_visible()
    closest = misses.first
    expect(closest).to_contain_text("DaekningAfskrivningRegistreringAfsend · RegistrerDaekning")
    expect(closest.locator(".differs")).to_have_text("operation: RegistrerDaekning (wanted RegistrerAfskrivning)")
    ex_id = closest.get_attribute("data-exchange")
    coverage = seeded.get(f"/api/exchanges/{ex_id}").json()
    assert coverage["operation"] == "RegistrerDaekning" and coverage["municipality"] == "11111111"
    screenshot(page, "near-misses")
    closest.locator("a").click()
    expect(page).to_have_url(f"{seeded.url}/ui/traffic/{ex_id}")


def test_a_call_refused_for_its_agreement_shows_the_nearest_agreements(seeded, new_page):
    page = new_page()
    page.goto(f"{seeded.url}/ui/traffic/{seeded.fault_exchange}")  # opus calling under prisme's agreement
    near = page.locator("#near-agreements tbody tr")
    expect(near.first).to_be_visible()
    # opus's own agreement for this municipality and service is the nearest: only the UUID differs
    expect(near.first).to_have_attribute("data-agreement", OPUS_AGREEMENT)
    expect(near.first.locator(".differs")).to_have_text(f"uuid: {OPUS_AGREEMENT} (the call: {_agreement(seeded)})")
    prisme = page.locator(f'#near-agreements tr[data-agreement="{_agreement(seeded)}"]')
    expect(prisme.locator(".differs")).to_contain_text("system: prisme (the call: opus)")
    page.goto(f"{seeded.url}/ui/traffic/{seeded.coverage_exchange}")  # an accepted call: no such panel
    expect(page.locator("#outcome")).to_have_text("ok")
    assert page.locator("#near-agreements").count() == 0


def _agreement(seeded) -> str:
    return seeded.get(f"/api/exchanges/{seeded.fault_exchange}").json()["agreement_uuid"]


def test_a_readiness_item_that_waited_for_a_write_off_shows_the_closest_calls(seeded, new_page):
    """The reference debtor system reports coverages but no write-off: item 1d waits for a
    RegistrerAfskrivning that never comes; its near misses are the coverages (only the operation differs)."""
    run = finished_readiness_run(seeded)
    page = new_page()
    page.goto(f"{seeded.url}/ui/scenarios/runs/{run['id']}")
    expect(page.locator('#items tr[data-item="1d"]')).to_have_attribute("data-verdict", "fail")
    misses = page.locator('tr[data-item-near-misses="1d"] tbody tr')
    expect(misses.first.locator(".differs")).to_have_text("operation: RegistrerDaekning (wanted RegistrerAfskrivning)")
    ex = seeded.get(f"/api/exchanges/{misses.first.get_attribute('data-exchange')}").json()
    assert (ex["service"], ex["operation"]) == ("DaekningAfskrivningRegistreringAfsend", "RegistrerDaekning")
