"""CI hooks: `simulator wait-healthy` blocks until a simulator is up; `simulator verify` passes (exit 0) or fails
(exit 1, saying what did match) on the recorded traffic, and writes JUnit XML for the CI server."""

from __future__ import annotations

import threading

import httpx
from lxml import etree
from typer.testing import CliRunner

from simulator.app import create_app
from simulator.cli import app
from tests.conftest import LiveServer, free_port, make_settings

PATH = "/service/OIR/DaekningAfskrivningRegistreringAfsend/1"


def cli(*args: str):
    return CliRunner().invoke(app, list(args))


def test_verify_passes_and_fails_with_exit_code_message_and_junit(live, tmp_path):
    # one refused call (malformed XML) and one unknown-operation call are recorded
    httpx.post(live.url + PATH, content=b"<not-xml", headers={"content-type": "text/xml"}, timeout=10)
    httpx.post(
        live.url + PATH,
        content=b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><x/></s:Body></s:Envelope>',
        headers={"content-type": "text/xml"},
        timeout=10,
    )

    passed = cli(
        "verify",
        "--url",
        live.url,
        "--service",
        "DaekningAfskrivningRegistreringAfsend",
        "--fault-code",
        "SP-100",
        "--count",
        "1",
        "--junit",
        str(tmp_path / "pass.xml"),
    )
    assert passed.exit_code == 0, passed.output
    assert "PASS service=DaekningAfskrivningRegistreringAfsend fault_code=SP-100: found 1, expected 1" in passed.output
    suite = etree.parse(str(tmp_path / "pass.xml")).find("testsuite")
    assert (suite.get("tests"), suite.get("failures")) == ("1", "0")

    failed = cli(
        "verify",
        "--url",
        live.url,
        "--service",
        "DaekningAfskrivningRegistreringAfsend",
        "--status",
        "ok",
        "--junit",
        str(tmp_path / "fail.xml"),
        "--name",
        "the debtor system reported a coverage",
    )
    assert failed.exit_code == 1
    assert "FAIL the debtor system reported a coverage: found 0, expected >=1" in failed.output
    assert "each criterion alone matches: service: 2, status: 0" in failed.output
    assert "SP-111" in failed.output and "SP-100" in failed.output  # the recent calls, to see what went wrong
    case = etree.parse(str(tmp_path / "fail.xml")).find("testsuite/testcase")
    assert case.get("name").endswith("the debtor system reported a coverage")
    assert "found 0, expected >=1" in case.find("failure").get("message")

    unreachable = cli("verify", "--url", f"http://127.0.0.1:{free_port()}", "--service", "x")
    assert unreachable.exit_code == 2 and "cannot reach the simulator" in unreachable.output


def test_verify_reads_the_address_from_simulator_url(live, monkeypatch):
    monkeypatch.setenv("SIMULATOR_URL", live.url)
    r = cli("verify", "--service", "DaekningAfskrivningRegistreringAfsend", "--count", "0")
    assert r.exit_code == 0, r.output


def test_wait_healthy_waits_for_a_simulator_that_starts_later(tmp_path, routes_dir, messages_dir):
    port = free_port()
    result = {}
    waiting = threading.Thread(
        target=lambda: result.update(r=cli("wait-healthy", "--url", f"http://127.0.0.1:{port}", "--timeout", "60"))
    )
    waiting.start()  # nothing listens on the port yet
    settings = make_settings(tmp_path, routes_dir, messages_dir, port=port, components=["ky"])
    with LiveServer(create_app(settings), port=port):
        waiting.join(timeout=90)
    assert not waiting.is_alive()
    assert result["r"].exit_code == 0, result["r"].output
    assert f"healthy: http://127.0.0.1:{port} after" in result["r"].output


def test_wait_healthy_gives_up_after_the_timeout():
    url = f"http://127.0.0.1:{free_port()}"
    r = cli("wait-healthy", "--url", url, "--timeout", "0.5", "--interval", "0.1")
    assert r.exit_code == 1
    assert f"not healthy after 0.5 s: {url} (ConnectError" in r.output
