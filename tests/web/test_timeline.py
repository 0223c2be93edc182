"""Issue 19 item 1: one debtor account's whole story at /ui/ky/accounts/{uuid}, found from a search by CPR,
account, claim or Besked id; the KY ledger's panels follow its CPR filter."""

from __future__ import annotations

from datetime import datetime

import pytest

from tests.web.conftest import screenshot, until

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips these tests (locally) or fails them (CI)
    expect = None


@pytest.fixture
def page(seeded, new_page):
    return new_page()


def test_the_timeline_tells_1a_1c_1d_1e_in_true_time_order_with_the_running_outstanding_amount(seeded, page):
    acc = seeded.account["uuid"]
    page.goto(f"{seeded.url}/ui/ky/accounts/{acc}")
    rows = page.locator("#timeline tbody tr")
    expect(rows.first).to_be_visible()
    times = [datetime.fromisoformat(t) for t in rows.evaluate_all("rs => rs.map(r => r.dataset.at)")]
    assert times == sorted(times), "not in time order"
    assert any(t.microsecond for t in times), "times are not sub-second"

    # every part of the story, each linking to its detail
    exchanges = page.locator("#timeline tr[data-kind=exchange]")
    for ex_id in (seeded.payment_exchange, seeded.coverage_exchange, seeded.refusal_exchange, seeded.fault_exchange):
        row = page.locator(f'#timeline tr[data-exchange="{ex_id}"]')
        expect(row).to_have_count(1)
        expect(row.locator(f'a[href="/ui/traffic/{ex_id}"]')).to_be_visible()
    ops = " ".join(exchanges.all_inner_texts())
    for op in ("OpretDebitorkonto", "ForetagIndbetaling", "RegistrerDaekning"):  # 1a, 1c, 1d
        assert op in ops, ops
    besked = page.locator(f'#timeline tr[data-kind=besked][data-besked="{seeded.besked_id}"]')  # 1e
    expect(besked.locator(f'a[href="/ui/beskedfordeler/beskeder/{seeded.besked_id}"]')).to_be_visible()
    expect(besked).to_contain_text("Beskedfordeler · DebitorkontoStatusskift")
    status = page.locator(f'#timeline tr[data-kind=status][data-besked-id="{seeded.besked_id}"]')
    expect(status).to_contain_text("aktiv")
    # the status the message brought comes after the message itself and after the account was created
    order = rows.evaluate_all("rs => rs.map(r => `${r.dataset.kind}:${r.dataset.besked || r.dataset.beskedId || ''}`)")
    assert order[0] == "created:"
    assert order.index(f"besked:{seeded.besked_id}") < order.index(f"status:{seeded.besked_id}")

    # the refusal and the fault stand out; the outstanding amount runs 1000.00 → 700.00 with the coverage
    expect(page.locator(f'#timeline tr[data-exchange="{seeded.refusal_exchange}"] .badge.refusal')).to_be_visible()
    expect(page.locator(f'#timeline tr[data-exchange="{seeded.refusal_exchange}"]')).to_contain_text("KY-DA-004")
    expect(page.locator(f'#timeline tr[data-exchange="{seeded.fault_exchange}"] .badge.fault')).to_be_visible()
    expect(rows.first.locator(".outstanding")).to_have_text("1000.00")
    posting = page.locator("#timeline tr[data-kind=posting]").filter(has_text="daekning")
    expect(posting.locator(".outstanding")).to_have_text("700.00")
    expect(rows.last.locator(".outstanding")).to_have_text("700.00")
    expect(page.locator("#outstanding-now")).to_have_text("700.00")
    screenshot(page, "timeline", full_page=True)

    page.locator(f'#timeline tr[data-exchange="{seeded.refusal_exchange}"] a').click()
    expect(page).to_have_url(f"{seeded.url}/ui/traffic/{seeded.refusal_exchange}")


def _open_claim_besked(seeded) -> str:
    """The Besked id of the debtor system's FordringTilIndbetaling (after the payment): it names the claim."""
    found = until(
        "KY received the claim open for payment",
        lambda: seeded.get("/api/ky/fordringer-til-indbetaling", params={"fordring_uuid": seeded.claim}).json(),
    )
    return found[0]["besked_id"]


@pytest.mark.parametrize("what", ["cpr", "account", "claim", "besked", "open-claim-besked"])
def test_search_finds_the_account_by_cpr_account_claim_or_besked_id(seeded, page, what):
    term = {
        "cpr": lambda: seeded.cpr,
        "account": lambda: seeded.account["uuid"],
        "claim": lambda: seeded.claim,
        "besked": lambda: seeded.besked_id,  # a status change's
        "open-claim-besked": lambda: _open_claim_besked(seeded),  # a message naming the claim only
    }[what]()
    page.goto(f"{seeded.url}/ui/ky")
    page.fill("#ky-find", term)
    page.press("#ky-find", "Enter")
    expect(page).to_have_url(f"{seeded.url}/ui/ky/accounts/{seeded.account['uuid']}")
    expect(page.locator("#account-uuid")).to_have_text(seeded.account["uuid"])


def test_every_ledger_panel_follows_the_cpr_filter(seeded, page):
    other = seeded.post(
        "/api/ky/accounts",
        json={"municipality": "11111111", "debitor": {"cpr": "0202802345"}, "claims": [{"amount": "5.00"}]},
    )
    assert other.status_code == 200, other.text
    other_uuid = other.json()["account"]["uuid"]
    page.goto(f"{seeded.url}/ui/ky")
    expect(page.locator(f'#status-changes a[href="/ui/ky/accounts/{other_uuid}"]').first).to_be_visible()

    page.goto(f"{seeded.url}/ui/ky?party={seeded.cpr}")
    expect(page.locator("details.account")).to_have_count(1)
    for panel in ("#coverages", "#postings", "#status-changes", "#fordringer"):
        assert other_uuid not in page.locator(panel).inner_html(), panel
    expect(page.locator(f'#status-changes a[href="/ui/ky/accounts/{seeded.account["uuid"]}"]').first).to_be_visible()
    expect(page.locator(f'#status-changes a[href="/ui/beskedfordeler/beskeder/{seeded.besked_id}"]')).to_be_visible()
    expect(page.locator("#coverages")).to_contain_text("300.00")
    expect(page.locator(f'#coverages a[href="/ui/traffic/{seeded.coverage_exchange}"]')).to_be_visible()


def test_the_traffic_search_by_account_finds_the_calls_that_name_only_its_claims(seeded, page):
    page.goto(f"{seeded.url}/")
    page.fill("#q", seeded.account["uuid"])
    for ex_id in (seeded.coverage_exchange, seeded.refusal_exchange, seeded.payment_exchange):
        expect(page.locator(f'#rows tr[data-id="{ex_id}"]')).to_be_visible()
