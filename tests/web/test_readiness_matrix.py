"""The readiness matrix page (`/ui/readiness`): municipality × SA 05 item with the last verdict, its time and a
link into the report of the run it comes from, in labelled, accessible markup."""

from __future__ import annotations

import httpx
from lxml import html as lhtml

from simulator.scenarios.runs import RunManager
from tests.scenarios.conftest import CVR, Env, env, seed_write_off  # noqa: F401 - the live simulator + reference debtor fixture

ITEMS = ["1a", "1b", "1c", "1d", "1e", "2", "3"]
BROKEN = "22222222"


async def _page(live: Env) -> lhtml.HtmlElement:
    async with httpx.AsyncClient(base_url=live.url, timeout=30) as c:
        r = await c.get("/ui/readiness")
    assert r.status_code == 200
    return lhtml.fromstring(r.text)


def _row(page, cvr: str):
    rows = page.xpath(f'//table[contains(@class, "readiness-matrix")]//tr[@data-municipality="{cvr}"]')
    assert len(rows) == 1
    return rows[0]


async def test_the_matrix_shows_each_municipalitys_last_verdict_per_item(env: Env) -> None:  # noqa: F811
    manager = env.rt.get(RunManager)
    await env.rt.routes.delete_route(env.rt.db, f"DebitorIndbetalingAfsend:{BROKEN}")  # 22222222 fails 1c
    await seed_write_off(env.rt, env.debtor.url, CVR)  # 1d's evidence: a write-off booked before the run
    jobs = [manager.start_readiness(cvr, within_s=10) for cvr in (CVR, BROKEN)]
    for job in jobs:
        await manager.wait(job.id, 60)
        assert job.state == "finished", job.error

    page = await _page(env)
    table = page.xpath('//table[contains(@class, "readiness-matrix")]')[0]
    assert table.xpath("caption/text()")[0].startswith("Municipality × readiness item")
    assert [th.text_content().strip() for th in table.xpath("thead/tr/th[@scope='col']")] == [
        "Municipality",
        *ITEMS,
        "Last run",
    ]
    assert not page.xpath("//script[not(@src)]")  # no inline script

    good = _row(page, CVR)
    assert good.xpath("th[@scope='row']")[0].text_content().strip() == f"{CVR} Demo Kommune Nord"
    for item in ITEMS:
        cell = good.xpath(f"td[@data-item='{item}']")[0]
        link = cell.xpath("a")[0]
        assert link.text_content().strip() == "pass"
        assert link.get("href") == f"/ui/scenarios/runs/{jobs[0].id}/report.html#item-{item}"
        assert link.get("aria-label").startswith(f"item {item} of {CVR}: pass at ")
        stamp = jobs[0].result()["finished_at"]
        assert cell.xpath("time/@datetime") == [stamp]

    broken = {
        td.get("data-item"): td.xpath("a")[0].text_content().strip()
        for td in _row(page, BROKEN).xpath("td[@data-item]")
    }
    assert broken["1a"] == "pass" and broken["1c"] == "fail" and broken["2"] == "skipped"  # 2 rests on 1c
    assert _row(page, BROKEN).xpath("td/a[@class='report']/@href") == [f"/ui/scenarios/runs/{jobs[1].id}/report.html"]
    # the link leads to the report, with the item's anchor in it
    async with httpx.AsyncClient(base_url=env.url, timeout=30) as c:
        report = await c.get(f"/ui/scenarios/runs/{jobs[1].id}/report.html")
    assert 'id="item-1c"' in report.text

    # a municipality never checked says so; a newer run that is still going is marked running
    assert [td.text_content().strip() for td in _row(page, "33333333").xpath("td[@data-item]")] == ["not run"] * 7
    running = manager.start_readiness(CVR, within_s=10)
    page = await _page(env)
    assert _row(page, CVR).get("data-running") is not None
    assert "pass" in _row(page, CVR).xpath("td[@data-item='1a']")[0].text_content()  # the last finished verdict stays
    await manager.wait(running.id, 60)
