"""Java interoperability, the way a vendor's Java team meets the simulator: wsimport (Debian `jaxws`) and javac on
every served WSDL (no warnings, no synthetic class names); a generated JAX-WS provider receives KY's
`OpretDebitorkonto` through the simulator; a generated client books a coverage into KY through it.

Skipped when java/javac/wsimport are absent; required in CI (`SIMULATOR_TEST_REQUIRE_SERVICES=1`, `.ci/run`
installs them). The code is generated and compiled once per session."""

from __future__ import annotations

import os
import queue
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from simulator.app import create_app
from tests.conftest import DEMO_MESSAGES, DEMO_ROUTES, REQUIRE_SERVICES, LiveServer, free_port, make_settings
from tests.ky.conftest import COMPONENTS, DAEKNING_SERVICE, DEMO_CVR, OPUS_AGREEMENT, OPUS_SYSTEM, PRISME_AGREEMENT
from tests.ky.test_contract_package import SOAP_SERVICES

JAVA_SOURCES = Path(__file__).parent / "java"
JARS = ["jaxws-rt.jar", "jaxws-api.jar", "jaxb-api.jar", "jws-api.jar"]  # jaxws-rt's manifest names the rest
JAVA_DIR = Path(os.environ.get("SIMULATOR_TEST_JAVA_LIBS", "/usr/share/java"))
TIMEOUT_S = 120


@dataclass
class JavaBuild:
    classes: Path
    warnings: dict[str, list[str]]  # served WSDL path → wsimport's warning lines
    generated: list[str]  # the generated class names

    @property
    def classpath(self) -> str:
        return os.pathsep.join([str(self.classes), *(str(JAVA_DIR / j) for j in JARS)])


def _need_java() -> None:
    missing = [tool for tool in ("java", "javac", "wsimport") if shutil.which(tool) is None]
    missing += [j for j in JARS if not (JAVA_DIR / j).is_file()]
    if missing:
        why = f"Java interoperability needs {', '.join(missing)} (Debian: apt-get install default-jdk-headless jaxws)"
        if REQUIRE_SERVICES:
            pytest.fail(why)
        pytest.skip(why)


def _run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S, **kw)
    assert out.returncode == 0, f"{' '.join(cmd[:3])} … failed:\n{out.stdout}\n{out.stderr}"
    return out


@pytest.fixture(scope="session")
def java_build(tmp_path_factory) -> JavaBuild:
    """wsimport on every WSDL a simulator of the demo routes serves, then javac of it and tests/ky/java."""
    _need_java()
    base = tmp_path_factory.mktemp("java")
    src, classes = base / "src", base / "classes"
    src.mkdir()
    classes.mkdir()
    shutil.copytree(DEMO_ROUTES, base / "routes")
    shutil.copytree(DEMO_MESSAGES, base / "messages")
    port = free_port()
    settings = make_settings(base, base / "routes", base / "messages", port=port, components=COMPONENTS)
    warnings = {}
    with LiveServer(create_app(settings), port=port) as live:
        for path in SOAP_SERVICES:  # one after the other: the shared schemas generate into the same packages
            out = _run(
                ["wsimport", "-keep", "-Xnocompile", "-s", str(src), "-d", str(classes), f"{live.url}{path}?wsdl"]
            )
            warnings[path] = [line for line in (out.stdout + out.stderr).splitlines() if "WARNING" in line]
    generated = sorted(src.rglob("*.java"))
    build = JavaBuild(classes, warnings, sorted({p.stem for p in generated}))
    sources = [str(p) for p in generated] + [str(p) for p in JAVA_SOURCES.rglob("*.java")]
    _run(["javac", "-nowarn", "-encoding", "UTF-8", "-d", str(classes), "-cp", build.classpath, *sources])
    return build


def test_wsimport_gives_no_warnings_and_every_class_a_name_from_the_contract(java_build: JavaBuild) -> None:
    assert java_build.warnings == dict.fromkeys(SOAP_SERVICES, [])
    synthetic = [n for n in java_build.generated if "Parent" in n or re.search(r"Type[A-Z].*Type", n)]
    assert synthetic == []
    for name in ("RolleType", "TilstandType", "ForretningsValideringsKodeType", "KontoartType"):
        assert name in java_build.generated
    assert "ServiceplatformFault" in java_build.generated  # the declared fault, as a checked exception


class JavaProcess:
    """A Java program whose stdout lines are read by a thread, so the test can wait for a line."""

    def __init__(self, build: JavaBuild, main: str, *args: str) -> None:
        self.proc = subprocess.Popen(
            ["java", "-cp", build.classpath, main, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.stderr: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()
        threading.Thread(target=lambda: self.stderr.extend(self.proc.stderr), daemon=True).start()

    def _pump(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)  # the program ended

    def next_line(self, prefix: str | tuple[str, ...]) -> str:
        """The next stdout line starting with `prefix` (fails if the program ends or TIMEOUT_S passes)."""
        while True:
            try:
                line = self.lines.get(timeout=TIMEOUT_S)
            except queue.Empty:
                pytest.fail(f"no '{prefix}' line from Java within {TIMEOUT_S}s; stderr:\n{''.join(self.stderr)}")
            if line is None:
                self.proc.wait(timeout=10)
                pytest.fail(f"Java ended (exit {self.proc.returncode}) before '{prefix}':\n{''.join(self.stderr)}")
            if line.startswith(prefix):
                return line

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


@pytest.fixture
def java_provider(java_build: JavaBuild) -> Iterator[tuple[JavaProcess, str]]:
    url = f"http://127.0.0.1:{free_port()}/debtor"
    provider = JavaProcess(java_build, "interop.DebtorProvider", url)
    try:
        provider.next_line("READY")
        yield provider, url
    finally:
        provider.stop()


def test_a_generated_java_provider_receives_kys_opret_debitorkonto(java_provider, live_factory) -> None:
    provider, url = java_provider  # the SF1590 services validate strictly: the Java side must conform both ways
    with live_factory(components=COMPONENTS) as live:
        api = httpx.Client(base_url=f"{live.url}/api", timeout=60)
        r = api.put("/routes", json={"service": "DebitorRegistreringAfsend", "municipality": DEMO_CVR, "target": url})
        assert r.status_code == 200, r.text
        r = api.post(
            "/ky/accounts",
            json={
                "municipality": DEMO_CVR,
                "debitor": {"cpr": "0101701234"},
                "claims": [{"amount": "120.00"}, {"amount": "30.50"}],
            },
        )
        assert r.status_code == 200, r.text
        account = r.json()["account"]
        assert r.json()["sent"]["accepted"], r.json()["sent"]
        line = provider.next_line("RECEIVED OpretDebitorkonto")
        assert line == (
            f"RECEIVED OpretDebitorkonto {account['uuid']} claims=2 total=150.50 type=Person municipality={DEMO_CVR}"
        )
        [ex] = api.get("/exchanges", params={"service": "DebitorRegistreringAfsend"}).json()["items"]
        assert (ex["decision"], ex["status"], ex["route_target"], ex["violations"]) == ("routed", "ok", url, None)


def test_a_generated_java_client_books_a_coverage_into_ky(java_build: JavaBuild, live_factory) -> None:
    with live_factory(components=COMPONENTS) as live:
        api = httpx.Client(base_url=f"{live.url}/api", timeout=60)
        account = api.post(
            "/ky/accounts",
            json={
                "municipality": DEMO_CVR,
                "debitor": {"cpr": "0202020202"},
                "claims": [{"amount": "80.00"}],
                "send": False,
            },
        ).json()["account"]
        claim = account["claims"][0]["uuid"]
        wsdl = f"{live.url}/service/OIR/DaekningAfskrivningRegistreringAfsend/1?wsdl"

        def book(agreement: str, amount: str) -> str:
            client = JavaProcess(
                java_build,
                "interop.CoverageClient",
                *(wsdl, DEMO_CVR, agreement, OPUS_SYSTEM, DAEKNING_SERVICE, claim, amount),
            )
            try:
                return client.next_line(("KVITTERING", "FAULT"))
            finally:
                client.proc.wait(timeout=TIMEOUT_S)

        assert book(OPUS_AGREEMENT, "30.00") == "KVITTERING ACCEPTERET"
        view = api.get(f"/ky/claims/{claim}").json()
        assert (view["covered"], view["outstanding"]) == ("30.00", "50.00")
        # another system's agreement: the platform refuses, and the generated client gets its checked fault
        assert book(PRISME_AGREEMENT, "5.00") == "FAULT SP-131"
        assert api.get(f"/ky/claims/{claim}").json()["covered"] == "30.00"
