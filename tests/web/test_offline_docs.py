"""Issue 19 item 5: /docs (Swagger UI) and /redoc work offline: every asset comes from the simulator itself."""

from __future__ import annotations

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips these tests (locally) or fails them (CI)
    expect = None


def test_swagger_ui_and_redoc_render_without_any_request_leaving_the_simulator(live, new_page):
    page = new_page()
    outside: list[str] = []

    def only_local(route):
        if route.request.url.startswith(live.url):
            route.continue_()
        else:  # as offline: nothing else answers
            outside.append((route.request.resource_type, route.request.url))
            route.abort()

    page.route("**/*", only_local)
    page.goto(f"{live.url}/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("KY debtor simulator", timeout=30_000)
    expect(page.locator(".opblock-summary-path").first).to_be_visible()  # the operations are listed
    assert page.locator("script:not([src])").count() == 0  # no inline script (a CSP may forbid them)
    assert outside == []
    page.goto(f"{live.url}/redoc")
    expect(page.locator("h1").first).to_contain_text("KY debtor simulator", timeout=30_000)
    # ReDoc renders from the local bundle; only its footer's decorative Redocly logo points elsewhere
    assert all(kind == "image" for kind, _ in outside), outside
