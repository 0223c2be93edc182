"""Issue 19 item 8: the configuration page exports the routes and agreements in force as YAML route files
(the format of routes/) and imports such a file; a file with one wrong item changes nothing."""

from __future__ import annotations

import yaml

from tests.serviceplatform.pingservice import AGREEMENT, write_routes
from tests.web.conftest import echo, screenshot

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips these tests (locally) or fails them (CI)
    expect = None


def test_export_then_import_a_changed_file_from_the_configuration_page(live_factory, tmp_path, new_page):
    routes_dir = write_routes(tmp_path / "ping-routes", "builtin:echo")
    with live_factory(routes_dir=routes_dir, components=[]) as live:
        live.server.config.app.runtime.handlers["echo"] = echo
        page = new_page()
        page.goto(f"{live.url}/ui/config")
        with page.expect_download() as dl:
            page.click("#export-routes")
        exported = yaml.safe_load(open(dl.value.path(), encoding="utf-8"))
        files = yaml.safe_load((routes_dir / "routes.yaml").read_text(encoding="utf-8"))
        assert [(r["service"], str(r["municipality"]), r["target"]) for r in exported["routes"]] == [
            (r["service"], str(r["municipality"]), r["target"]) for r in files["routes"]
        ]
        with page.expect_download() as dl:
            page.click("#export-agreements")
        agreements = yaml.safe_load(open(dl.value.path(), encoding="utf-8"))
        assert AGREEMENT in [a["uuid"] for a in agreements["agreements"]]

        # the same files, changed: a fault on the route, the agreement switched off; loaded from a file
        exported["routes"][0]["fault"] = {"soap_fault": "SP-150"}
        for a in agreements["agreements"]:
            a["active"] = a["uuid"] != AGREEMENT
        changed = tmp_path / "changed.yaml"
        changed.write_text(yaml.safe_dump(exported | agreements, sort_keys=False), encoding="utf-8")
        page.set_input_files("#import-file", str(changed))
        expect(page.locator("#import-yaml")).to_have_value(changed.read_text(encoding="utf-8"))
        page.locator("#import-form button[type=submit]").click()
        expect(page.locator(".flash.ok")).to_contain_text(
            f"imported {len(exported['routes'])} route(s) and {len(agreements['agreements'])} agreement(s)"
        )
        expect(page.locator(f'tr[data-agreement="{AGREEMENT}"]')).to_have_class("inactive")
        expect(page.locator("tr[data-route] input[name=soap_fault]").first).to_have_value("SP-150")
        screenshot(page, "config-import")

        # one wrong item (an unknown service): refused with the reason, nothing changed
        bad = {
            "routes": [{"service": "NoSuchService", "municipality": "*", "target": "builtin:echo"}],
            "agreements": [{**agreements["agreements"][0], "active": True}],
        }
        page.fill("#import-yaml", yaml.safe_dump(bad))
        page.locator("#import-form button[type=submit]").click()
        expect(page.locator(".flash.err")).to_contain_text("import refused, nothing changed: routes #1:")
        expect(page.locator(".flash.err")).to_contain_text("NoSuchService")
        expect(page.locator(f'tr[data-agreement="{AGREEMENT}"]')).to_have_class("inactive")
        page.fill("#import-yaml", "routes: [unclosed")
        page.locator("#import-form button[type=submit]").click()
        expect(page.locator(".flash.err")).to_contain_text("not YAML")
