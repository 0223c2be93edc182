"""Coverage calls per second into KY: wrk with 20 connections POSTs RegistrerDaekning through a live
simulator (agreement check, route to builtin:ky, ledger checks and booking, recording), each with a
new coverage id, all on the same claim. Prints requests/s, p50/p99, the simulator's CPU per call (all its
processes), RSS and what was booked and recorded.

`.venv/bin/python bench/ky_coverage.py [--duration 10] [--conns 20] [--database-url …] [--workers N]
[--until-recorded N] [--serve]`

`--serve` starts the simulator the same way and prints the `../shared/bench/anchors.sh` command that puts it
in a round with WireMock, Mockoon and the raw FastAPI ceiling; on Ctrl-C (or SIGTERM) it prints the CPU per
call and what was booked and recorded. `--workers N` (PostgreSQL only) runs N processes on the one port.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from _common import VENV_BIN, cpu_s, free_port, loadavg, rss_mb, wrk  # bench/ is the script folder (run as a script)

CVR = "11111111"
SERVICE_UUID = "67275f52-f9a2-484e-a869-92cad1a5572c"
DEBTOR_SYSTEM = "706e258a-41f3-4a3b-a407-216db3ead494"
AGREEMENT = "0908f8ba-4353-45cf-937a-401ce57c4501"
NS = "http://serviceplatformen.dk/xml/wsdl/soap11/OIR/DaekningAfskrivningRegistreringAfsend/1/"
D = "http://serviceplatformen.dk/xml/schemas/OIR/Debitor/1/"
PATH = "/service/OIR/DaekningAfskrivningRegistreringAfsend/1"
ACTION = f'"{NS}RegistrerDaekning"'


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


def envelope(claim: str) -> str:
    """A RegistrerDaekning envelope for ``claim``; wrk replaces each {{uuid}} with a fresh coverage id."""
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
        "<r:Daekning><d:DaekningUUID>{{uuid}}</d:DaekningUUID>"
        f"<d:FordringUUID>{claim}</d:FordringUUID>"
        "<d:Beloeb>0.01</d:Beloeb><d:Dato>2025-03-01</d:Dato></r:Daekning>"
        "</r:RegistrerDaekningRequest></soap:Body></soap:Envelope>"
    )


def create_claim(base: str) -> str:
    """One claim of 10,000,000.00 kr. (every request of the run covers 0.01 kr. of it)."""
    r = httpx.post(
        base + "/api/ky/accounts",
        json={
            "municipality": CVR,
            "debitor": {"cpr": "1000000000"},
            "claims": [{"amount": "10000000.00"}],
            "send": False,
        },
        timeout=30,
    )
    r.raise_for_status()
    return r.json()["account"]["claims"][0]["uuid"]


def counts(base: str, claim: str) -> tuple[int, int]:
    """(coverages booked on the claim, exchanges recorded)."""
    booked = round(float(httpx.get(f"{base}/api/ky/claims/{claim}", timeout=60).json()["covered"]) * 100)
    recorded = httpx.post(f"{base}/api/verify", json={"count": 0}, timeout=60).json()["found"]
    return booked, recorded


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--conns", type=int, default=20)
    ap.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    ap.add_argument("--workers", type=int, default=1, help="simulator processes on the port (PostgreSQL only)")
    ap.add_argument(
        "--until-recorded",
        type=int,
        default=0,
        metavar="N",
        help="keep the load on (rounds of --duration) until N exchanges are recorded, printing RSS each round",
    )
    ap.add_argument(
        "--serve",
        action="store_true",
        help="only start the simulator, create the claim and print the anchors.sh command; Ctrl-C stops",
    )
    args = ap.parse_args()
    if not args.serve and not shutil.which("wrk"):
        sys.exit("wrk is needed: apt-get install -y wrk")
    work = Path(tempfile.mkdtemp(prefix="ky-bench-"))
    write_routes(work / "routes")
    (work / "messages").mkdir()
    # KY takes its claim types from its debtor sortiment (the demo's)
    shutil.copytree(
        Path(__file__).resolve().parent.parent / "messages" / "sortiments", work / "messages" / "sortiments"
    )
    port = free_port()
    env = os.environ | {
        "SIMULATOR_ROUTES_DIR": str(work / "routes"),
        "SIMULATOR_MESSAGES_DIR": str(work / "messages"),
        "SIMULATOR_DATABASE_URL": args.database_url or f"sqlite+aiosqlite:///{work / 'bench.db'}",
        "SIMULATOR_PORT": str(port),
        "SIMULATOR_COMPONENTS": '["ky"]',
        "SIMULATOR_LOG_LEVEL": "warning",
    }
    sim = subprocess.Popen(
        [VENV_BIN / "simulator", "run", "--workers", str(args.workers)], env=env, stdout=subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 120
        while True:
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.time() > deadline or sim.poll() is not None:
                sys.exit("the simulator did not start")
            time.sleep(0.1)
        claim = create_claim(base)
        body = work / "coverage.xml"
        body.write_text(envelope(claim))
        url = base + PATH
        if args.serve:
            print(f"load average {loadavg()}", flush=True)
            print(
                f"OURS_BODY={body} OURS_ACTION='\"{NS}RegistrerDaekning\"' "
                f"bash ../shared/bench/anchors.sh ours={url} ours_pid={sim.pid}",
                flush=True,
            )
            cpu0 = cpu_s(sim.pid)
            signal.signal(signal.SIGINT, signal.default_int_handler)  # also when started in the background
            signal.signal(signal.SIGTERM, signal.default_int_handler)
            try:
                sim.wait()
            except KeyboardInterrupt:
                cpu = cpu_s(sim.pid) - cpu0
                booked, recorded = counts(base, claim)
                print(
                    f"since the claim: cpu_ms_per_call={cpu * 1000 / max(recorded, 1):.3f} "
                    f"(cpu {cpu:.1f} s over {recorded} calls); coverages booked {booked}; exchanges recorded "
                    f"{recorded}; load average {loadavg()}",
                    flush=True,
                )
            return
        print(f"load average before: {loadavg()}", flush=True)
        wrk(url, body, 2, args.conns, ACTION)  # warm-up
        cpu0 = cpu_s(sim.pid)
        r = wrk(url, body, args.duration, args.conns, ACTION)
        cpu_ms = (cpu_s(sim.pid) - cpu0) * 1000 / max(r["requests"], 1)
        booked, recorded = counts(base, claim)
        while recorded < args.until_recorded:
            w = wrk(url, body, args.duration, args.conns, ACTION)
            booked, recorded = counts(base, claim)
            print(
                f"  round: rps={w['rps']:.0f} p99_ms={w['p99_ms']:.2f} recorded={recorded} "
                f"rss_mb={rss_mb(sim.pid):.0f} peak_rss_mb={rss_mb(sim.pid, 'VmHWM'):.0f}",
                flush=True,
            )
        print(
            f"coverage calls into KY: conns={args.conns} rps={r['rps']:.0f} p50_ms={r['p50_ms']:.2f} "
            f"p99_ms={r['p99_ms']:.2f} requests={r['requests']:.0f} non2xx={r['non2xx']:.0f} "
            f"sock_err={r['sock_err']:.0f} cpu_ms_per_call={cpu_ms:.3f} rss_mb={rss_mb(sim.pid):.0f} "
            f"workers={args.workers} load_average_after={loadavg()}"
        )
        print(f"coverages booked in KY's ledger: {booked}; exchanges recorded: {recorded} (warm-up included)")
    except KeyboardInterrupt:
        pass
    finally:
        sim.terminate()
        sim.wait(30)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
