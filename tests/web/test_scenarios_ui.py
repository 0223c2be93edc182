"""Issue 19 item 6: scenarios from the UI. A run started elsewhere (the API, as `simulator scenario run`
does) appears in the live run list without a reload; its session tag is recorded into a scenario from the
page; that file, uploaded into the replay form, is replayed for a chosen municipality and target."""

from __future__ import annotations

from tests.web.conftest import screenshot, until

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips these tests (locally) or fails them (CI)
    expect = None

CVR = "11111111"


def test_record_a_session_upload_the_file_and_replay_it_for_a_municipality_and_target(seeded, new_page, tmp_path):
    page = new_page()
    page.goto(f"{seeded.url}/ui/scenarios")
    page.evaluate("window.__noReload = true")
    before = page.locator("#runs tr[data-run]").count()

    r = seeded.post("/api/scenarios/runs", json={"scenario": "ky-debtor-basic", "municipality": CVR})
    assert r.status_code == 202, r.text
    cli_run = page.locator(f'#runs tr[data-run="{r.json()["id"]}"]')
    expect(cli_run).to_be_visible()  # the list keeps polling: a run started elsewhere shows up
    expect(cli_run).to_have_attribute("data-state", "finished", timeout=60_000)
    expect(cli_run.locator(".badge.pass")).to_be_visible()
    assert page.evaluate("window.__noReload === true"), "the page was reloaded"
    session = cli_run.locator("code.session").inner_text()
    assert session.startswith("scenario-"), session

    page.fill("#record-form input[name=session]", session)
    page.fill("#record-form input[name=name]", "from-the-ui")
    page.click("#record-form button[type=submit]")
    expect(page.locator("#recorded-note")).to_be_visible()
    recorded = page.locator("#scenario-text").input_value()
    assert "steps:" in recorded and "from-the-ui" in recorded

    path = tmp_path / "from-the-ui.yaml"
    path.write_text(recorded, encoding="utf-8")
    page.fill("#scenario-text", "")
    page.set_input_files("#scenario-file", str(path))  # the upload fills the form
    expect(page.locator("#scenario-text")).to_have_value(recorded)
    page.select_option("#replay-form select[name=municipality]", CVR)
    target = f"{seeded.debtor_url}/{CVR}"
    page.fill("#replay-form input[name=target]", target)
    page.click("#replay-form button[type=submit]")
    expect(page.locator(".flash.ok")).to_contain_text(f"replay of the scenario file for {CVR} started")
    runs = page.locator("#runs tr[data-run]")
    expect(runs).to_have_count(before + 2)
    replay = runs.filter(has_text="from-the-ui")
    expect(replay).to_contain_text(target)
    expect(replay).to_have_attribute("data-state", "finished", timeout=60_000)
    expect(replay.locator(".badge.pass")).to_be_visible()
    screenshot(page, "scenarios", full_page=True)

    # the replay's calls went to the chosen target
    sent = until(
        "the replay's calls are recorded",
        lambda: seeded.get(
            "/api/exchanges", params={"session": replay.locator("code.session").inner_text(), "origin": "ky"}
        ).json()["items"],
    )
    assert all(x["route_target"].startswith(target) for x in sent), [x["route_target"] for x in sent]


def test_a_session_without_calls_is_refused_with_the_reason(seeded, new_page):
    page = new_page()
    page.goto(f"{seeded.url}/ui/scenarios")
    page.fill("#record-form input[name=session]", "no-such-session")
    page.click("#record-form button[type=submit]")
    expect(page.locator(".flash.err")).to_contain_text("recording failed")
    expect(page.locator("#record-form input[name=session]")).to_have_value("no-such-session")
