"""`simulator routes check`: one clear message per problem, with file and line."""

from __future__ import annotations

from typer.testing import CliRunner

from simulator.cli import app
from simulator.serviceplatform import read_route_files
from tests.serviceplatform.pingservice import write_routes

runner = CliRunner()


def test_check_accepts_a_good_route_table(tmp_path, monkeypatch):
    routes = write_routes(tmp_path / "r", "http://127.0.0.1:1/ping")
    monkeypatch.setenv("SIMULATOR_COMPONENTS", "[]")
    result = runner.invoke(app, ["routes", "check", str(routes)])
    assert result.exit_code == 0, result.output
    assert "OK — 2 services, 2 systems, 2 municipalities, 1 routes, 4 agreements" in result.output


def test_check_names_every_problem_with_file_and_line(tmp_path, monkeypatch):
    routes = write_routes(tmp_path / "r", "http://127.0.0.1:1/ping")
    monkeypatch.setenv("SIMULATOR_COMPONENTS", "[]")
    (routes / "routes.yaml").write_text(
        "routes:\n"
        "  - service: Ping\n"
        '    municipality: "12345678"\n'
        "    target: ftp://nowhere\n"
        "  - service: Pong\n"
        '    municipality: "12345678"\n'
        "    target: builtin:x\n"
    )
    (routes / "agreements.yaml").write_text(
        "agreements:\n"
        '  - {uuid: AAAAAAAA-0000-4000-8000-000000000001, system: caller, municipality: "12345678", service: Ping}\n'
        '  - {uuid: aaaaaaaa-0000-4000-8000-000000000002, system: ghost, municipality: "12345678", service: Ping}\n'
        "  - {uuid: aaaaaaaa-0000-4000-8000-000000000003, system: caller, municipality: 1234, service: Ping}\n"
    )
    result = runner.invoke(app, ["routes", "check", str(routes)])
    assert result.exit_code == 1
    out = result.output
    assert f"{routes}/routes.yaml:2: target 'ftp://nowhere' must be builtin:<handler> or an http(s):// URL" in out
    assert f"{routes}/routes.yaml:5: unknown service 'Pong'" in out
    assert f"{routes}/agreements.yaml:2: uuid 'AAAAAAAA-0000-4000-8000-000000000001' is not a lower-case UUID" in out
    assert f"{routes}/agreements.yaml:3: unknown system 'ghost'" in out
    assert f"{routes}/agreements.yaml:4: unknown municipality '1234'" in out
    assert "5 problem(s)" in out


def test_broken_yaml_is_reported_with_its_line(tmp_path, monkeypatch):
    routes = write_routes(tmp_path / "r", "http://127.0.0.1:1/ping")
    monkeypatch.setenv("SIMULATOR_COMPONENTS", "[]")
    (routes / "municipalities.yaml").write_text('municipalities:\n  - cvr: "12345678"\n    name: [oops\n')
    result = runner.invoke(app, ["routes", "check", str(routes)])
    assert result.exit_code == 1
    assert f"{routes}/municipalities.yaml:4: not valid YAML" in result.output


def test_missing_file_and_missing_fields_are_reported(tmp_path, monkeypatch):
    routes = write_routes(tmp_path / "r", "http://127.0.0.1:1/ping")
    monkeypatch.setenv("SIMULATOR_COMPONENTS", "[]")
    (routes / "systems.yaml").unlink()
    (routes / "services.yaml").write_text("services:\n  - name: X\n    area: Y\n")
    result = runner.invoke(app, ["routes", "check", str(routes)])
    assert result.exit_code == 1
    assert "systems.yaml:0: file is missing" in result.output
    assert f"{routes}/services.yaml:2: 'uuid' is required" in result.output


def test_a_target_takes_its_address_from_the_environment(tmp_path, monkeypatch):
    routes = write_routes(tmp_path / "r", "${PING_URL:-http://127.0.0.1:1}/ping")
    monkeypatch.setenv("SIMULATOR_COMPONENTS", "[]")
    monkeypatch.delenv("PING_URL", raising=False)
    assert read_route_files(routes).routes[0].target == "http://127.0.0.1:1/ping"  # the default
    monkeypatch.setenv("PING_URL", "http://debtor.example:9001")
    assert read_route_files(routes).routes[0].target == "http://debtor.example:9001/ping"

    (routes / "routes.yaml").write_text(
        'routes:\n  - service: Ping\n    municipality: "12345678"\n    target: ${NO_SUCH_URL_VAR}/ping\n'
    )
    result = runner.invoke(app, ["routes", "check", str(routes)])
    assert result.exit_code == 1
    assert f"{routes}/routes.yaml:2: target names ${{NO_SUCH_URL_VAR}}, which is not set and has no :-default" in (
        result.output
    )
