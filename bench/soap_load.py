"""Load on the SOAP path: requests/s and p50/p99 at 20 concurrent clients (wrk), for a call forwarded
to a provider and for a refused call (unknown agreement). Run by hand: `make bench` or
`.venv/bin/python bench/soap_load.py [--duration 10] [--conns 20]`. Prints one line per case."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from _common import HERE, VENV_BIN, free_port, rss_mb, wrk  # bench/ is the script folder (run as a script)

SERVICE_UUID = "5b0e4f4e-9d3c-4d7b-8f51-0a1b2c3d4e5f"
SYSTEM_UUID = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
AGREEMENT = "1b4e28ba-2fa1-41d2-883f-0016d3cca427"
CVR = "11111111"
ACTION = '"Ekko"'


def wait_http(url: str, deadline_s: float = 20) -> float:
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < deadline_s:
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return time.perf_counter() - t0
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{url} did not come up")


def write_routes(d: Path, provider: str) -> None:
    d.mkdir(parents=True)
    (d / "services.yaml").write_text(
        f"services:\n  - {{name: BenchEcho, area: Bench, version: 1, uuid: {SERVICE_UUID}, direction: other}}\n"
    )
    (d / "systems.yaml").write_text(f"systems:\n  - {{key: caller, name: Caller, uuid: {SYSTEM_UUID}, kind: debtor}}\n")
    (d / "municipalities.yaml").write_text(f'municipalities:\n  - {{cvr: "{CVR}", name: Bench}}\n')
    (d / "routes.yaml").write_text(
        f'routes:\n  - {{service: BenchEcho, municipality: "{CVR}", target: "{provider}"}}\n'
    )
    (d / "agreements.yaml").write_text(
        f'agreements:\n  - {{uuid: {AGREEMENT}, system: caller, municipality: "{CVR}", service: BenchEcho}}\n'
    )


def envelope(agreement: str) -> str:
    return (
        '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
        '<b:EkkoRequest xmlns:b="urn:bench">'
        '<ac:AuthorityContext xmlns:ac="http://serviceplatformen.dk/xml/schemas/AuthorityContext/1/">'
        f"<ac:MunicipalityCVR>{CVR}</ac:MunicipalityCVR></ac:AuthorityContext>"
        '<ic:InvocationContext xmlns:ic="http://serviceplatformen.dk/xml/schemas/InvocationContext/1/">'
        f"<ic:ServiceAgreementUUID>{agreement}</ic:ServiceAgreementUUID>"
        f"<ic:UserSystemUUID>{SYSTEM_UUID}</ic:UserSystemUUID><ic:UserUUID>{uuid.uuid4()}</ic:UserUUID>"
        f"<ic:ServiceUUID>{SERVICE_UUID}</ic:ServiceUUID>"
        "<ic:CallersServiceCallIdentifier>{{uuid}}</ic:CallersServiceCallIdentifier></ic:InvocationContext>"
        "<b:Tekst>hej</b:Tekst></b:EkkoRequest></soap:Body></soap:Envelope>"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--conns", type=int, default=20)
    args = ap.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is needed: apt-get install -y wrk")

    work = Path(tempfile.mkdtemp(prefix="soap-bench-"))
    pport, sport = free_port(), free_port()
    provider = subprocess.Popen(
        [
            VENV_BIN / "uvicorn",
            "canned_provider:app",
            "--port",
            str(pport),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        cwd=HERE,
    )
    write_routes(work / "routes", f"http://127.0.0.1:{pport}/")
    (work / "messages").mkdir()
    env = os.environ | {
        "SIMULATOR_ROUTES_DIR": str(work / "routes"),
        "SIMULATOR_MESSAGES_DIR": str(work / "messages"),
        "SIMULATOR_DATABASE_URL": f"sqlite+aiosqlite:///{work / 'bench.db'}",
        "SIMULATOR_PORT": str(sport),
        "SIMULATOR_COMPONENTS": "[]",
        "SIMULATOR_LOG_LEVEL": "warning",
    }
    t0 = time.perf_counter()
    sim = subprocess.Popen([VENV_BIN / "simulator", "run"], env=env, stdout=subprocess.DEVNULL)
    try:
        wait_http(f"http://127.0.0.1:{pport}/")
        started = wait_http(f"http://127.0.0.1:{sport}/healthz") + 0 * t0
        url = f"http://127.0.0.1:{sport}/service/Bench/BenchEcho/1"
        print(f"start to healthy: {started:.2f} s")
        for name, agreement in (("forwarded", AGREEMENT), ("refused", str(uuid.uuid4()))):
            body = work / f"{name}.xml"
            body.write_text(envelope(agreement))
            wrk(url, body, 2, args.conns, ACTION)  # warm-up
            r = wrk(url, body, args.duration, args.conns, ACTION)
            print(
                f"{name:10s} rps={r['rps']:.0f} p50_ms={r['p50_ms']:.2f} p99_ms={r['p99_ms']:.2f} "
                f"requests={int(r['requests'])} non2xx={int(r['non2xx'])} sock_err={int(r['sock_err'])} "
                f"rss_mb={rss_mb(sim.pid):.0f}"
            )
        n = httpx.post(f"http://127.0.0.1:{sport}/api/verify", json={"service": "BenchEcho"}).json()["found"]
        print(f"recorded exchanges: {n}")
    finally:
        sim.terminate()
        provider.terminate()
        sim.wait(30)
        provider.wait(30)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
