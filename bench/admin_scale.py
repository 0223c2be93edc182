"""The admin API with many recorded exchanges: inserts N exchanges (default 200,000) into a fresh SQLite
database, then times exchange listings (newest page, keyset page, filters) through the ASGI app
in-process and prints p50/p99 and the process's RSS. `.venv/bin/python bench/admin_scale.py [--rows N]`"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import insert

from simulator.app import create_app
from simulator.config import Settings
from simulator.store import ExchangeRow

ROOT = Path(__file__).resolve().parent.parent


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def row(i: int, t0: datetime) -> dict:
    return {
        "id": str(uuid.uuid4()),
        "started_at": t0 + timedelta(milliseconds=i),
        "duration_ms": 3.0,
        "origin": "http",
        "service": ("DaekningAfskrivningRegistreringAfsend", "DebitorRegistreringAfsend")[i % 2],
        "operation": "RegistrerDaekning",
        "municipality": ("11111111", "22222222", "33333333")[i % 3],
        "system_uuid": None,
        "agreement_uuid": None,
        "route_target": "builtin:ky",
        "decision": "handled",
        "reason": "",
        "status": "fault" if i % 50 == 0 else "ok",
        "fault_code": "SP-130" if i % 50 == 0 else None,
        "http_status": 200,
        "callers_call_id": f"c{i}",
        "correlation_id": None,
        "session": None,
        "provider_ms": None,
        "request_body": "<x>" + "a" * 1500 + "</x>",
        "response_body": "<y>ok</y>",
        "request_truncated": False,
        "response_truncated": False,
        "violations": None,
        "context": None,
    }


async def main(rows: int, samples: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="admin-scale-"))
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{work / 'scale.db'}",
        routes_dir=ROOT / "routes",
        messages_dir=ROOT / "messages",
        components=[],
        retention_max_exchanges=rows + 1,
    )
    app = create_app(settings)
    await app.runtime.start()
    try:
        t0 = datetime.now(UTC)
        t = time.perf_counter()
        async with app.runtime.db.session() as s, s.begin():
            for start in range(0, rows, 5000):
                await s.execute(
                    insert(ExchangeRow.__table__), [row(i, t0) for i in range(start, min(rows, start + 5000))]
                )
        print(f"inserted {rows} exchanges in {time.perf_counter() - t:.1f} s; RSS {rss_mb():.0f} MB")
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sim") as c:
            first = (await c.get("/api/exchanges")).json()
            cases = {
                "newest page": {},
                "keyset page": {"before": first["next_before"] - 100_000 if first["next_before"] > 100_000 else 1},
                "status=fault": {"status": "fault"},
                "municipality": {"municipality": "22222222"},
                "service+municipality": {"service": "DebitorRegistreringAfsend", "municipality": "33333333"},
                "correlation id": {"correlation_id": f"c{rows // 2}"},
            }
            for name, params in cases.items():
                times = []
                for _ in range(samples):
                    t = time.perf_counter()
                    r = await c.get("/api/exchanges", params=params)
                    times.append((time.perf_counter() - t) * 1000)
                    assert r.status_code == 200
                times.sort()
                p99 = times[max(0, int(len(times) * 0.99) - 1)]
                print(
                    f"{name:22s} p50={statistics.median(times):7.2f} ms  p99={p99:7.2f} ms  "
                    f"items={len(r.json()['items'])}"
                )
        print(f"RSS after listings: {rss_mb():.0f} MB")
    finally:
        await app.runtime.stop()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--samples", type=int, default=200)
    args = ap.parse_args()
    asyncio.run(main(args.rows, args.samples))
