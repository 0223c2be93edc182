"""POST /api/routes/reload: the route files are the source of truth; a running simulator applies them again."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_reload_applies_file_changes_and_keeps_api_edits(sim_factory, routes_dir, backend) -> None:
    async with sim_factory(backend=backend) as sim:
        api_route = {"service": "DebitorRegistreringAfsend", "municipality": "22222222", "target": "http://x.test/r"}
        assert (await sim.client.put("/api/routes", json=api_route)).status_code == 200
        path = routes_dir / "routes.yaml"
        path.write_text(
            path.read_text().replace("DebitorIndbetalingAfsend/1\n", "DebitorIndbetalingAfsend/2\n", 1),
            encoding="utf-8",
        )
        r = await sim.client.post("/api/routes/reload")
        assert r.status_code == 200, r.text
        assert r.json()["municipalities"] == ["11111111", "22222222", "33333333"]
        routes = {x["id"]: x["target"] for x in (await sim.client.get("/api/routes")).json()}
        assert routes["DebitorIndbetalingAfsend:11111111"].endswith("/DebitorIndbetalingAfsend/2")  # from the file
        assert routes["DebitorRegistreringAfsend:22222222"] == "http://x.test/r"  # the API edit is kept


async def test_reload_refuses_changed_services_and_broken_files(sim_factory, routes_dir) -> None:
    async with sim_factory() as sim:
        services = routes_dir / "services.yaml"
        original = services.read_text()
        services.write_text(original.replace("version: 1", "version: 2", 1), encoding="utf-8")
        r = await sim.client.post("/api/routes/reload")
        assert r.status_code == 422 and "services.yaml changed since the simulator started: restart" in r.text
        services.write_text(original, encoding="utf-8")
        (routes_dir / "municipalities.yaml").write_text("municipalities:\n  - cvr: '123'\n    name: X\n")
        r = await sim.client.post("/api/routes/reload")
        assert r.status_code == 422 and "cvr '123' must be 8 digits" in r.text
        # nothing of a refused reload is applied
        assert [m["cvr"] for m in (await sim.client.get("/api/municipalities")).json()] == [
            "11111111",
            "22222222",
            "33333333",
        ]
