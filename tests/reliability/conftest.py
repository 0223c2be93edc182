"""Fixtures for the reliability tests: the simulator as a real process (`simulator run`) that can be
killed and restarted on the same database, a fresh PostgreSQL database, and coverage load into KY."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.conftest import POSTGRES_URL, free_port, need_service
from tests.ky.conftest import DEMO_CVR
from tests.ky.messages import PATH, action, coverage, kvittering

SIMULATOR = Path(sys.executable).parent / "simulator"
COVERAGE_SERVICE = "DaekningAfskrivningRegistreringAfsend"


class SimProcess:
    """`simulator run` in a subprocess on a fixed port and database, so it can be killed and restarted."""

    def __init__(self, tmp_path: Path, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tmp_path / f"simulator-{self.port}.log"
        self.env = (
            os.environ
            | {
                "SIMULATOR_PORT": str(self.port),
                "SIMULATOR_LOG_LEVEL": "warning",
                "SIMULATOR_COMPONENTS": '["ky", "beskedfordeler"]',
            }
            | env
        )
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 60) -> SimProcess:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen([SIMULATOR, "run"], env=self.env, stdout=log, stderr=log)
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the simulator exited ({self.proc.returncode}):\n{self.log.read_text()[-3000:]}")
            try:
                health = httpx.get(self.url + "/healthz", timeout=1)
                if health.status_code == 200:
                    return self
                last = f"{health.status_code} {health.text[:1000]}"
            except httpx.HTTPError as e:
                last = repr(e)
            time.sleep(0.05)
        raise RuntimeError(f"the simulator did not become healthy ({last}):\n{self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flush."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


@pytest.fixture
def sim_process(tmp_path, routes_dir, messages_dir) -> Iterator:
    """`sim_process(database_url=..., **env)` → a started SimProcess on the demo routes; all are stopped after."""
    started: list[SimProcess] = []

    def factory(database_url: str | None = None, **env: str) -> SimProcess:
        p = SimProcess(
            tmp_path,
            SIMULATOR_ROUTES_DIR=str(routes_dir),
            SIMULATOR_MESSAGES_DIR=str(messages_dir),
            SIMULATOR_DATABASE_URL=database_url or f"sqlite+aiosqlite:///{tmp_path / 'sim.db'}",
            **env,
        )
        started.append(p)
        return p.start()

    yield factory
    for p in started:
        p.stop()


@pytest.fixture
def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database (SQLAlchemy URL), dropped afterwards."""
    import asyncpg

    need_service("PostgreSQL", 5432)
    name = f"rel_{uuid.uuid4().hex[:10]}"
    admin_dsn = POSTGRES_URL.replace("postgresql+asyncpg://", "postgresql://")

    async def run(sql: str) -> None:
        conn = await asyncpg.connect(admin_dsn)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    def execute(sql: str) -> None:  # on its own thread: the tests using this fixture run an event loop
        with ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, run(sql)).result()

    execute(f'CREATE DATABASE "{name}"')
    try:
        yield POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def create_claim(base_url: str, amount: str = "1000000.00") -> str:
    r = httpx.post(
        base_url + "/api/ky/accounts",
        json={
            "municipality": DEMO_CVR,
            "debitor": {"cpr": "0101701234"},
            "claims": [{"amount": amount}],
            "send": False,
        },
        timeout=30,
    )
    r.raise_for_status()
    return r.json()["account"]["claims"][0]["uuid"]


@dataclass
class Outcomes:
    """What the callers saw: accepted coverage id → exchange id; refused; calls that got no answer."""

    accepted: dict[str, str] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)
    unanswered: set[str] = field(default_factory=set)
    other: list[str] = field(default_factory=list)  # answered, but not a receipt (e.g. a SOAP fault)
    calls: list[tuple[float, float, str]] = field(default_factory=list)  # (sent, answered, outcome), monotonic
    _waiters: list[tuple[int, asyncio.Event]] = field(default_factory=list)

    def when_accepted(self, n: int) -> asyncio.Event:
        """An event set once n coverages in all have been accepted."""
        event = asyncio.Event()
        self._waiters.append((n, event))
        self.accept(None, None)
        return event

    def accept(self, cid: str | None, exchange_id: str | None) -> None:
        if cid is not None:
            self.accepted[cid] = exchange_id
        for n, event in self._waiters:
            if len(self.accepted) >= n:
                event.set()

    @property
    def answered(self) -> int:
        return len(self.accepted) + len(self.refused) + len(self.other)


async def coverage_load(
    urls: list[str],
    claim: str,
    *,
    clients: int,
    stop: asyncio.Event,
    out: Outcomes,
    amount: str = "0.01",
    per_client: int | None = None,
) -> None:
    """`clients` concurrent callers, spread over `urls`, each posting fresh coverages until `stop` is set,
    `per_client` calls are made, or their server stops answering (`out.when_accepted(n)` tells when n were
    accepted)."""

    async def caller(i: int) -> None:
        async with httpx.AsyncClient(base_url=urls[i % len(urls)], timeout=20) as http:
            made = 0
            while not stop.is_set() and (per_client is None or made < per_client):
                made += 1
                cid = str(uuid.uuid4())
                t0 = time.monotonic()
                try:
                    r = await http.post(
                        PATH,
                        content=coverage(claim, amount, item_id=cid),
                        headers={"SOAPAction": action(), "Content-Type": "text/xml; charset=utf-8"},
                    )
                except httpx.HTTPError:
                    out.unanswered.add(cid)
                    out.calls.append((t0, time.monotonic(), "unanswered"))
                    return
                if r.status_code == 200:
                    status, _, codes = kvittering(r.content)
                    if status == "ACCEPTERET":
                        out.accept(cid, r.headers["x-simulator-exchange-id"])
                    else:
                        out.refused[cid] = codes[0] if codes else status
                    out.calls.append((t0, time.monotonic(), status))
                else:
                    out.other.append(f"{r.status_code} {r.text[:200]}")
                    out.calls.append((t0, time.monotonic(), f"HTTP {r.status_code}"))

    await asyncio.gather(*(caller(i) for i in range(clients)))


async def resend_all(url: str, claim: str, ids: list[str], amount: str = "0.01") -> list[tuple[str, str | None]]:
    """Send each coverage id again with the same content: (status, begrundelse) per id."""
    sem = asyncio.Semaphore(10)

    async with httpx.AsyncClient(base_url=url, timeout=30) as http:

        async def one(cid: str) -> tuple[str, str | None]:
            async with sem:
                r = await http.post(
                    PATH,
                    content=coverage(claim, amount, item_id=cid),
                    headers={"SOAPAction": action(), "Content-Type": "text/xml; charset=utf-8"},
                )
                status, why, _ = kvittering(r.content)
                return status, why

        return await asyncio.gather(*(one(c) for c in ids))


def recorded_exchanges(api: httpx.Client, **filters: str) -> dict[str, dict]:
    """Every recorded exchange matching the filters (all pages of /api/exchanges), by exchange id."""
    out: dict[str, dict] = {}
    before = None
    while True:
        params = {**filters, "limit": 500} | ({"before": before} if before is not None else {})
        page = api.get("/api/exchanges", params=params).json()
        for item in page["items"]:
            assert item["id"] not in out, f"exchange {item['id']} listed twice"
            out[item["id"]] = item
        before = page["next_before"]
        if before is None:
            return out


def all_pages(api: httpx.Client, path: str, **filters: str) -> list[dict]:
    """Every item of a KY ledger listing, page by page (`before` = the last id), however many there are."""
    rows: list[dict] = []
    params: dict = {**filters, "limit": 1000}
    while page := api.get(path, params=params).json():
        rows += page
        params["before"] = page[-1]["id"]
    return rows


def booked_coverages(api: httpx.Client, claim: str) -> dict[str, str]:
    """The coverages KY booked on the claim: DaekningUUID → the exchange that booked it."""
    booked: dict[str, str] = {}
    for p in all_pages(api, "/api/ky/postings", kind="daekning", claim_uuid=claim):
        assert p["claim_uuid"] == claim
        assert p["uuid"] not in booked, f"coverage {p['uuid']} booked twice"
        booked[p["uuid"]] = p["exchange_id"]
    return booked
