"""Browser fixtures: Debian's Chromium driven by Playwright (never `playwright install`: no downloads).

Without /usr/bin/chromium (or the playwright package) the browser tests are skipped locally and fail
in CI (SIMULATOR_TEST_REQUIRE_SERVICES=1), where .ci/run installs chromium first.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from lxml import etree

from tests.conftest import REQUIRE_SERVICES, ROOT, until
from tests.serviceplatform.pingservice import NS

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Screenshots go to docs/screenshots/ (shown in the README) only when asked for, so that a
# test run leaves the checkout clean: SIMULATOR_SCREENSHOTS=1 make test.
SCREENSHOTS = (
    ROOT / "docs" / "screenshots"
    if os.environ.get("SIMULATOR_SCREENSHOTS") == "1"
    else Path(tempfile.gettempdir()) / "simulator-screenshots"
)
PATH = "/service/Test/Ping/1"


async def echo(call) -> etree._Element:
    """A built-in route target for the Ping test service (`builtin:echo`): answers with the text."""
    out = etree.Element(f"{{{NS}}}PingResponse")
    etree.SubElement(out, f"{{{NS}}}Tekst").text = call.payload.findtext(f"{{{NS}}}Tekst")
    etree.SubElement(out, f"{{{NS}}}Fra").text = "echo"
    return out


def _unavailable(reason: str) -> None:
    if REQUIRE_SERVICES:
        pytest.fail(f"browser tests need {reason}")
    pytest.skip(f"{reason} is not available")


@pytest.fixture(scope="module")
def browser() -> Iterator:
    """One headless Chromium per test module."""
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} (apt-get install -y chromium chromium-driver)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package (pip install -e '.[dev]')")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def new_page(browser):
    """`new_page()` opens a page in a fresh context (clipboard allowed); all are closed after the test."""
    contexts = []

    def factory():
        ctx = browser.new_context(viewport={"width": 1440, "height": 900})
        ctx.grant_permissions(["clipboard-read", "clipboard-write"])
        ctx.set_default_timeout(10_000)
        contexts.append(ctx)
        return ctx.new_page()

    yield factory
    for ctx in contexts:
        ctx.close()


def screenshot(page, name: str, *, full_page: bool = False) -> Path:
    """Save a screenshot to SCREENSHOTS/<name>.png (docs/screenshots/ with SIMULATOR_SCREENSHOTS=1)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


# -- a simulator with one debtor account's whole story: 1a, 1c, 1d, 1e, a business refusal, a platform fault ---


@dataclass
class Seeded:
    url: str
    account: dict  # as KY created it (1a)
    cpr: str
    claim: str
    besked_id: str  # the debtor system's DebitorkontoStatusskift (1e)
    payment_exchange: str  # KY's payment to the debtor system (1c)
    coverage_exchange: str  # the debtor system's coverage report (1d)
    refusal_exchange: str  # a coverage above what is outstanding: KY answers AFVIST KY-DA-004
    fault_exchange: str  # a coverage under another system's agreement: the platform's SOAP fault
    token: str | None = None
    debtor_url: str = ""

    def get(self, path: str, **kw) -> httpx.Response:
        headers = {"authorization": f"Bearer {self.token}"} if self.token else {}
        return httpx.get(self.url + path, headers=headers, timeout=30, **kw)

    def post(self, path: str, **kw) -> httpx.Response:
        headers = (kw.pop("headers", None) or {}) | ({"authorization": f"Bearer {self.token}"} if self.token else {})
        return httpx.post(self.url + path, headers=headers, timeout=30, **kw)


CPR = "0101801234"


@contextmanager
def seeded_simulator(tmp: Path, **settings) -> Iterator[Seeded]:
    """The simulator (every component) and the reference debtor system as shipped, on free ports, with one
    debtor account that went through 1a (registration), 1c (a payment), 1d (the coverage the debtor system
    reports by itself) and 1e (its status change through the Beskedfordeler), plus a business refusal and a
    platform fault of coverages naming its claim."""
    from examples.reference_debtor.app import Config
    from examples.reference_debtor.app import create_app as create_debtor_app
    from simulator.app import create_app
    from tests.conftest import DEMO_MESSAGES, DEMO_ROUTES, LiveServer, free_port, make_settings, point_routes_at
    from tests.ky.conftest import COMPONENTS, DEMO_CVR, PRISME_AGREEMENT
    from tests.ky.messages import PATH as COVERAGE_PATH
    from tests.ky.messages import action, coverage

    routes, messages = tmp / "routes", tmp / "messages"
    shutil.copytree(DEMO_ROUTES, routes)
    shutil.copytree(DEMO_MESSAGES, messages)
    dport, sport = free_port(), free_port()
    point_routes_at(routes, f"http://127.0.0.1:{dport}")
    config = Config.from_routes(routes, f"http://127.0.0.1:{sport}", messages_dir=messages)
    app = create_app(make_settings(tmp, routes, messages, port=sport, components=COMPONENTS, **settings))
    with LiveServer(create_debtor_app(config), port=dport) as debtor, LiveServer(app, port=sport) as sim:
        s = Seeded(sim.url, {}, CPR, "", "", "", "", "", "", token=settings.get("admin_token"), debtor_url=debtor.url)
        r = s.post(
            "/api/ky/accounts",
            json={
                "municipality": DEMO_CVR,
                "debitor": {"cpr": CPR, "name": "Karen Timeline"},
                "claims": [{"amount": "1000.00", "subclaims": [{"amount": "600.00"}, {"amount": "400.00"}]}],
            },
        )
        assert r.status_code == 200 and r.json()["sent"]["accepted"], r.text
        s.account = r.json()["account"]
        s.claim = s.account["claims"][0]["uuid"]
        uuid_ = s.account["uuid"]

        def from_bf():
            changes = s.get("/api/ky/status-changes", params={"account_uuid": uuid_}).json()
            return [c for c in changes if c["source"] == "beskedfordeler"]

        s.besked_id = until("KY recorded the debtor system's status change (1e)", from_bf)[0]["besked_id"]
        r = s.post(f"/api/ky/claims/{s.claim}/payments", json={"amount": "300.00"})
        assert r.status_code == 200 and r.json()["sent"]["accepted"], r.text

        def covered():
            postings = s.get("/api/ky/postings", params={"claim_uuid": s.claim}).json()
            return [p for p in postings if p["kind"] == "daekning"]

        s.coverage_exchange = until("KY booked the debtor system's coverage (1d)", covered)[0]["exchange_id"]
        s.payment_exchange = s.get("/api/exchanges", params={"origin": "ky", "limit": 100}).json()["items"][0]["id"]
        headers = {"content-type": "text/xml; charset=utf-8", "soapaction": action()}
        r = s.post(COVERAGE_PATH, content=coverage(s.claim, "5000.00"), headers=headers)
        assert r.status_code == 200 and b"KY-DA-004" in r.content, r.text
        s.refusal_exchange = r.headers["x-simulator-exchange-id"]
        r = s.post(COVERAGE_PATH, content=coverage(s.claim, "1.00", agreement=PRISME_AGREEMENT), headers=headers)
        assert r.status_code == 500, r.text
        s.fault_exchange = r.headers["x-simulator-exchange-id"]
        yield s


@pytest.fixture(scope="module")
def seeded(tmp_path_factory) -> Iterator[Seeded]:
    """One seeded simulator per test module (see `seeded_simulator`)."""
    with seeded_simulator(tmp_path_factory.mktemp("seeded")) as s:
        yield s


def finished_readiness_run(s: Seeded, municipality: str = "11111111") -> dict:
    """Start an SA 05 readiness run through the admin API and await its end (long-polling its progress)."""
    # within_s: a check this fixture's debtor system cannot pass (write-offs) ends after 5 s, not 30
    r = s.post("/api/readiness/runs", json={"municipality": municipality, "within_s": 5})
    assert r.status_code == 202, r.text
    job = r.json()["id"]

    def finished():
        run = s.get(f"/api/readiness/runs/{job}", params={"wait": 10}).json()
        return run if run["state"] != "running" else None

    return until("the readiness run finished", finished, within_s=120)


def every_page(s: Seeded) -> list[str]:
    """Every UI page, with the seeded data in it."""
    dueslag = s.get("/api/beskedfordeler/dueslag").json()
    runs = s.get("/api/scenarios/runs").json()
    return [
        *(f"/ui/scenarios/runs/{r['id']}" for r in runs[:1]),
        "/",
        "/?outcome=refusal",
        f"/ui/traffic/{s.refusal_exchange}",
        f"/ui/traffic/{s.fault_exchange}",
        "/ui/config",
        "/ui/ky",
        f"/ui/ky?party={s.cpr}",
        f"/ui/ky/accounts/{s.account['uuid']}",
        "/ui/beskedfordeler",
        *(f"/ui/beskedfordeler/dueslag/{d['uuid']}" for d in dueslag[:2]),
        f"/ui/beskedfordeler/beskeder/{s.besked_id}",
        "/ui/sortiment",
        "/ui/scenarios",
        "/ui/readiness",
        "/ui/login",
        "/ui/no-such-page",
    ]
