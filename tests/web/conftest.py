"""Browser fixtures: Debian's Chromium driven by Playwright (never `playwright install`: no downloads).

Without /usr/bin/chromium (or the playwright package) the browser tests are skipped locally and fail
in CI (SIMULATOR_TEST_REQUIRE_SERVICES=1), where .ci/run installs chromium first.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from lxml import etree

from tests.conftest import REQUIRE_SERVICES, ROOT
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
