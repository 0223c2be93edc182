"""Coverage calls per second into KY: 20 concurrent clients POST RegistrerDaekning through a live
simulator (agreement check, route to builtin:ky, ledger checks and booking, recording), each with a
new coverage id. Prints requests/s, p50/p99 and what KY's ledger booked.

`.venv/bin/python bench/ky_coverage.py [--duration 10] [--clients 20] [--database-url …]`
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

VENV_BIN = Path(sys.executable).parent
CVR = "11111111"
SERVICE_UUID = "67275f52-f9a2-484e-a869-92cad1a5572c"
DEBTOR_SYSTEM = "706e258a-41f3-4a3b-a407-216db3ead494"
AGREEMENT = "0908f8ba-4353-45cf-937a-401ce57c4501"
NS = "http://serviceplatformen.dk/xml/wsdl/soap11/OIR/DaekningAfskrivningRegistreringAfsend/1/"
D = "http://serviceplatformen.dk/xml/schemas/OIR/Debitor/1/"
PATH = "/service/OIR/DaekningAfskrivningRegistreringAfsend/1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_routes(d: Path) -> None:
    d.mkdir(parents=True)
    (d / ".simulator-data").touch()
    (d / "services.yaml").write_text(f"""services:
  - name: DaekningAfskrivningRegistreringAfsend
    area: OIR
    version: 1
    uuid: {SERVICE_UUID}
    direction: debtor-to-ky
    contract: sf1590/DaekningAfskrivningRegistreringAfsend
  - name: DebitorRegistreringAfsend
    area: OIR
    version: 1
    uuid: e354a6d1-500b-49c6-916a-510623e12fba
    direction: ky-to-debtor
    contract: sf1590/DebitorRegistreringAfsend
""")
    (d / "systems.yaml").write_text(f"""systems:
  - {{key: ky, name: KY, uuid: 03328264-7db2-4e1c-b889-df4edc9691b2, kind: ky}}
  - {{key: opus, name: Opus, uuid: {DEBTOR_SYSTEM}, kind: debtor}}
""")
    (d / "municipalities.yaml").write_text(f'municipalities:\n  - {{cvr: "{CVR}", name: Bench, debtor_system: opus}}\n')
    (d / "routes.yaml").write_text(
        'routes:\n  - {service: DaekningAfskrivningRegistreringAfsend, municipality: "*", target: "builtin:ky"}\n'
    )
    (d / "agreements.yaml").write_text(
        f'agreements:\n  - {{uuid: {AGREEMENT}, system: opus, municipality: "{CVR}", '
        "service: DaekningAfskrivningRegistreringAfsend}\n"
    )


def envelope(claim: str) -> bytes:
    return (
        '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
        f'<r:RegistrerDaekningRequest xmlns:r="{NS}" xmlns:d="{D}">'
        '<ac:AuthorityContext xmlns:ac="http://serviceplatformen.dk/xml/schemas/AuthorityContext/1/">'
        f"<ac:MunicipalityCVR>{CVR}</ac:MunicipalityCVR></ac:AuthorityContext>"
        '<ic:InvocationContext xmlns:ic="http://serviceplatformen.dk/xml/schemas/InvocationContext/1/">'
        f"<ic:ServiceAgreementUUID>{AGREEMENT}</ic:ServiceAgreementUUID>"
        f"<ic:UserSystemUUID>{DEBTOR_SYSTEM}</ic:UserSystemUUID>"
        "<ic:UserUUID>00000000-0000-4000-8000-000000000001</ic:UserUUID>"
        f"<ic:ServiceUUID>{SERVICE_UUID}</ic:ServiceUUID></ic:InvocationContext>"
        f"<r:Daekning><d:DaekningUUID>{uuid.uuid4()}</d:DaekningUUID><d:FordringUUID>{claim}</d:FordringUUID>"
        "<d:Beloeb>0.01</d:Beloeb><d:Dato>2025-03-01</d:Dato></r:Daekning>"
        "</r:RegistrerDaekningRequest></soap:Body></soap:Envelope>"
    ).encode()


async def client(base: str, claim: str, until: float, latencies: list[float], errors: list[str]) -> None:
    headers = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{NS}RegistrerDaekning"'}
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        while time.perf_counter() < until:
            body = envelope(claim)
            t = time.perf_counter()
            r = await http.post(PATH, content=body, headers=headers)
            latencies.append((time.perf_counter() - t) * 1000)
            if r.status_code != 200 or b"ACCEPTERET" not in r.content:
                errors.append(r.text[:300])


async def run(base: str, clients: int, duration: float) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        claims = []
        for i in range(clients):
            r = await http.post(
                "/api/ky/accounts",
                json={
                    "municipality": CVR,
                    "debitor": {"cpr": f"{1000000000 + i}"},
                    "claims": [{"amount": "1000000.00"}],
                    "send": False,
                },
            )
            r.raise_for_status()
            claims.append(r.json()["account"]["claims"][0]["uuid"])
    warm: list[float] = []
    await asyncio.gather(*(client(base, c, time.perf_counter() + 1, warm, []) for c in claims))
    latencies: list[float] = []
    errors: list[str] = []
    t0 = time.perf_counter()
    await asyncio.gather(*(client(base, c, t0 + duration, latencies, errors) for c in claims))
    elapsed = time.perf_counter() - t0
    q = statistics.quantiles(latencies, n=100)
    print(
        f"coverage calls into KY: clients={clients} requests={len(latencies)} rps={len(latencies) / elapsed:.0f} "
        f"p50_ms={q[49]:.2f} p99_ms={q[98]:.2f} errors={len(errors)}"
    )
    if errors:
        print("first error:", errors[0])
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        booked = 0
        for c in claims:
            booked += round(float((await http.get(f"/api/ky/claims/{c}")).json()["covered"]) * 100)
    print(f"coverages booked in KY's ledger: {booked} (expected {len(latencies) + len(warm)})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--duration", type=float, default=10)
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ky-bench-"))
    write_routes(work / "routes")
    (work / "messages").mkdir()
    port = free_port()
    env = os.environ | {
        "SIMULATOR_ROUTES_DIR": str(work / "routes"),
        "SIMULATOR_MESSAGES_DIR": str(work / "messages"),
        "SIMULATOR_DATABASE_URL": args.database_url or f"sqlite+aiosqlite:///{work / 'bench.db'}",
        "SIMULATOR_PORT": str(port),
        "SIMULATOR_COMPONENTS": '["ky"]',
        "SIMULATOR_LOG_LEVEL": "warning",
    }
    sim = subprocess.Popen([VENV_BIN / "simulator", "run"], env=env, stdout=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 30
        while True:
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.time() > deadline or sim.poll() is not None:
                sys.exit("the simulator did not start")
            time.sleep(0.1)
        asyncio.run(run(base, args.clients, args.duration))
    finally:
        sim.terminate()
        sim.wait(30)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
