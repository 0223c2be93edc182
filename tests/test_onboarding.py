"""Onboarding a municipality (`simulator municipality add`, docs/onboarding.md): the route files get what it
needs, `routes check` passes, a running simulator picks it up on reload, and readiness passes for it against
the reference debtor system; bad input is refused and leaves the files as they were."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from examples.reference_debtor.app import Config
from examples.reference_debtor.app import create_app as create_debtor_app
from simulator.app import create_app
from simulator.capabilities import SortimentDelivery
from simulator.cli import app as cli
from simulator.onboarding import OnboardingError, append_entries
from simulator.scenarios.readiness import run_readiness
from tests.conftest import LiveServer, free_port, make_settings, point_routes_at
from tests.scenarios.conftest import COMPONENTS, seed_write_off, serve

runner = CliRunner()
NEW = "44444444"
FILES = ("municipalities.yaml", "routes.yaml", "agreements.yaml", "sortiment_subscriptions.yaml")


def add(routes_dir: Path, *extra: str, cvr: str = NEW, system: str = "opus", url: str = "http://127.0.0.1:8001"):
    return runner.invoke(
        cli,
        [
            "municipality",
            "add",
            "--cvr",
            cvr,
            "--name",
            "Ny Kommune",
            "--system",
            system,
            "--debtor-url",
            f"{url}/{cvr}",
            "--routes",
            str(routes_dir),
            *extra,
        ],
        env={"SIMULATOR_URL": ""},
    )


def test_add_writes_what_the_municipality_needs_and_routes_check_passes(routes_dir: Path) -> None:
    before = {f: (routes_dir / f).read_text(encoding="utf-8") for f in FILES}
    r = add(routes_dir)
    assert r.exit_code == 0, r.output
    assert "4 routes, 10 agreements, 1 sortiment subscription" in r.output
    assert "simulator routes reload" in r.output  # says how a running simulator picks it up

    check = runner.invoke(cli, ["routes", "check", str(routes_dir)])
    assert check.exit_code == 0, check.output
    assert "4 municipalities, 20 routes, 40 agreements" in check.output

    for f in FILES:  # appended: what was there (comments included) is kept as it was
        assert (routes_dir / f).read_text(encoding="utf-8").startswith(before[f])
    load = lambda f, k: yaml.safe_load((routes_dir / f).read_text(encoding="utf-8"))[k]  # noqa: E731
    assert {"cvr": NEW, "name": "Ny Kommune", "debtor_system": "opus"} in load("municipalities.yaml", "municipalities")
    routes = {r["service"]: r["target"] for r in load("routes.yaml", "routes") if r["municipality"] == NEW}
    assert routes == {
        s: f"http://127.0.0.1:8001/{NEW}/service/{area}/{s}/1"
        for s, area in (
            ("DebitorRegistreringAfsend", "OIR"),
            ("DebitorForespoergselAfsend", "OIR"),
            ("DebitorIndbetalingAfsend", "OIR"),
            ("SortimentModtag", "Klassifikation"),
        )
    }
    ags = {(a["system"], a["service"]): a for a in load("agreements.yaml", "agreements") if a["municipality"] == NEW}
    assert set(ags) == {
        ("ky", "DebitorRegistreringAfsend"),
        ("ky", "DebitorForespoergselAfsend"),
        ("ky", "DebitorIndbetalingAfsend"),
        ("opus", "DaekningAfskrivningRegistreringAfsend"),
        ("opus", "BeskedAfsend"),
        ("ky", "BeskedModtag"),
        ("klassifikation", "SortimentModtag"),
        ("opus", "Klasse"),
        ("opus", "Facet"),
        ("opus", "Klassifikation"),
    }
    both = ["1a4419ff-47d1-4dc8-a900-4c747888edad", "25672fd7-e239-4bf3-8f8d-f15023857e0c"]
    assert ags[("opus", "BeskedAfsend")]["beskedtyper"] == both == ags[("ky", "BeskedModtag")]["beskedtyper"]
    assert {"municipality": NEW, "system": "opus"} in load("sortiment_subscriptions.yaml", "subscriptions")


NEW_ENTRY = {"cvr": NEW, "name": "Ny Kommune"}


@pytest.mark.parametrize(
    "text, kept",
    [
        ('municipalities:\n  - cvr: "1"\n    name: a\n  # trailing comment\n', "  # trailing comment\n"),
        ('# the list\nmunicipalities:\n- cvr: "1"\n  name: a\nother: 1\n', "other: 1\n"),
        ("municipalities: []\n", ""),
        ("municipalities:\n", ""),
        ("# nothing yet\n", "# nothing yet\n"),
    ],
)
def test_entries_are_appended_in_the_files_own_layout(text: str, kept: str) -> None:
    out = append_entries(text, "municipalities", [NEW_ENTRY], "added")
    before = (yaml.safe_load(text) or {}).get("municipalities") or []
    assert yaml.safe_load(out)["municipalities"] == [*before, NEW_ENTRY]
    assert kept in out and "# added\n" in out
    if "other: 1" in text:
        assert yaml.safe_load(out)["other"] == 1 and '\n- cvr: "44444444"\n  name: Ny Kommune\n' in out


def test_a_flow_list_is_not_rewritten() -> None:
    with pytest.raises(OnboardingError, match=r"not a block list\); add the entries by hand"):
        append_entries("municipalities: [{cvr: '1'}]\n", "municipalities", [NEW_ENTRY], "added")


@pytest.mark.parametrize(
    "cvr, system, url, reason",
    [
        ("4444444", "opus", "http://127.0.0.1:8001", "is not a CVR number: give the municipality's 8 digits"),
        ("4444444a", "opus", "http://127.0.0.1:8001", "is not a CVR number"),
        ("11111111", "opus", "http://127.0.0.1:8001", "municipality 11111111 (Demo Kommune Nord) is already in"),
        (
            NEW,
            "navision",
            "http://127.0.0.1:8001",
            "unknown system 'navision': the debtor systems in systems.yaml are indsigt, opus, prisme",
        ),
        (NEW, "ky", "http://127.0.0.1:8001", "system 'ky' is a ky system"),
        (NEW, "opus", "ftp://debtor", "must be an http(s):// URL"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_written(routes_dir: Path, cvr, system, url, reason) -> None:
    before = {f: (routes_dir / f).read_text(encoding="utf-8") for f in FILES}
    r = add(routes_dir, cvr=cvr, system=system, url=url)
    assert r.exit_code == 1
    assert "refused: " in r.output and reason in r.output, r.output
    assert {f: (routes_dir / f).read_text(encoding="utf-8") for f in FILES} == before


async def test_a_running_simulator_reloads_it_and_readiness_passes_for_it(tmp_path, routes_dir, messages_dir) -> None:
    dport, sport = free_port(), free_port()
    point_routes_at(routes_dir, f"http://127.0.0.1:{dport}")
    settings = make_settings(tmp_path, routes_dir, messages_dir, port=sport, components=COMPONENTS)
    app = create_app(settings)
    async with serve(app, sport):
        rt = app.runtime
        r = add(routes_dir, url=f"http://127.0.0.1:{dport}")  # the files only
        assert r.exit_code == 0, r.output
        assert NEW not in rt.routes.municipalities

        # the reference debtor system, as shipped, learns its identities from the same route files
        debtor = create_debtor_app(
            Config.from_routes(routes_dir, f"http://127.0.0.1:{sport}", messages_dir=messages_dir)
        )
        with LiveServer(debtor, port=dport):
            # the CLI is synchronous and the simulator serves in this event loop: run commands in a thread
            r = await asyncio.to_thread(runner.invoke, cli, ["routes", "reload", "--url", f"http://127.0.0.1:{sport}"])
            assert r.exit_code == 0, r.output
            assert "reloaded — 4 municipalities, 20 routes" in r.output and f"started: {NEW}:opus" in r.output
            assert NEW in rt.routes.municipalities
            assert rt.routes.route_for("DebitorIndbetalingAfsend", NEW).target.startswith(
                f"http://127.0.0.1:{dport}/{NEW}/"
            )
            assert rt.get(SortimentDelivery).subscription(f"{NEW}:opus") is not None

            await seed_write_off(rt, f"http://127.0.0.1:{dport}", NEW)  # 1d's evidence: a booked write-off
            report = await run_readiness(rt, NEW, within_s=15)
            assert [(i.id, i.verdict) for i in report.items] == [
                (i, "pass") for i in ("1a", "1b", "1c", "1d", "1e", "2", "3")
            ], [(i.id, i.missing) for i in report.items if not i.passed]

            # with --url, `municipality add` has the running simulator reload at once
            r = await asyncio.to_thread(
                add, routes_dir, "--url", f"http://127.0.0.1:{sport}", cvr="55555555", url=f"http://127.0.0.1:{dport}"
            )
            assert r.exit_code == 0, r.output
            assert "the running simulator has 55555555 now" in r.output and "55555555" in rt.routes.municipalities
