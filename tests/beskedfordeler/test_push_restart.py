"""Push attempts are numbered across restarts (issue 17, finding 5), with the simulator as a real process on
the real RabbitMQ, SQLite and PostgreSQL: an attempt is recorded before it is sent, so after a SIGKILL in the
middle of a push the repeat carries a higher AntalLeveranceforsoeg; SIGTERM lets a push in flight finish
(within its bound), so the receiver that answered 20 does not get the message again."""

from __future__ import annotations

import threading
import time

import httpx
import pytest
from fastapi import FastAPI, Request, Response
from lxml import etree

from simulator.beskedfordeler import kuvert as kv
from tests.beskedfordeler.conftest import besked_id, statusskift
from tests.beskedfordeler.test_push import PUSH_DUESLAG, setup_push
from tests.conftest import LiveServer
from tests.reliability import conftest as reliability

SimProcess = reliability.SimProcess
postgres_database = reliability.postgres_database  # the fixture

STOP_BOUND_S = 10.0


class HoldingReceiver:
    """A push endpoint that holds its first request until `release` is set, then answers 20; every request
    is noted as (BeskedId, AntalLeveranceforsoeg)."""

    def __init__(self) -> None:
        self.got: list[tuple[str, int]] = []
        self.first_arrived = threading.Event()
        self.release = threading.Event()
        self.arrived = threading.Condition()
        app = FastAPI()

        @app.post("/modtag")
        async def modtag(request: Request) -> Response:
            import asyncio

            root = etree.fromstring(await request.body())
            hb = next(root.iter(kv.k("Haendelsesbesked")))
            antal = int(hb.findall(f".//{kv.k('AntalLeveranceforsoeg')}")[-1].text)
            with self.arrived:
                self.got.append((kv.unikid(hb.find(kv.k("BeskedId"))), antal))
                self.arrived.notify_all()
            if len(self.got) == 1:
                self.first_arrived.set()
                await asyncio.to_thread(self.release.wait, 30)
            return Response(
                '<sts:ModtagBeskedOutput xmlns:sts="urn:oio:sts:1.0.0" xmlns="urn:oio:sagdok:3.0.0">'
                "<StandardRetur><StatusKode>20</StatusKode></StandardRetur></sts:ModtagBeskedOutput>",
                media_type="application/xml",
            )

        self.app = app

    def wait_for(self, n: int, timeout: float = 30.0) -> list[tuple[str, int]]:
        with self.arrived:
            assert self.arrived.wait_for(lambda: len(self.got) >= n, timeout), f"{len(self.got)} of {n} arrived"
            return list(self.got)


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request, tmp_path) -> str:
    if request.param == "postgres":
        return request.getfixturevalue("postgres_database")
    return f"sqlite+aiosqlite:///{tmp_path / 'sim.db'}"


def _send(sim: SimProcess, body: bytes) -> None:
    r = httpx.post(sim.url + "/beskedfordeler/afsend", content=body, timeout=30)
    assert b"<StatusKode>20</StatusKode>" in r.content, r.text


def _attempts(sim: SimProcess) -> list[tuple[int, str]]:
    r = httpx.get(f"{sim.url}/api/beskedfordeler/dueslag/{PUSH_DUESLAG}/forsoeg", timeout=10)
    return sorted((a["attempt"], a["outcome"]) for a in r.json())


def test_a_push_repeated_after_sigkill_carries_a_higher_attempt_number(
    tmp_path, routes_dir, messages_dir, vhost_url, clean, database_url
):
    clean(PUSH_DUESLAG)
    receiver = HoldingReceiver()
    with LiveServer(receiver.app) as server:
        setup_push(messages_dir, f"{server.url}/modtag")
        env = dict(
            SIMULATOR_ROUTES_DIR=str(routes_dir),
            SIMULATOR_MESSAGES_DIR=str(messages_dir),
            SIMULATOR_DATABASE_URL=database_url,
            SIMULATOR_BROKER_URL=vhost_url,
        )
        sim = SimProcess(tmp_path, **env).start()
        try:
            body = statusskift()
            _send(sim, body)
            assert receiver.first_arrived.wait(30)
            sim.kill()  # mid-push: the receiver has the message, the simulator never hears its answer
            receiver.release.set()
            sim = SimProcess(tmp_path, **env).start()
            got = receiver.wait_for(2)
            assert got == [(besked_id(body), 1), (besked_id(body), 2)]
            deadline = time.monotonic() + 10
            while (tries := _attempts(sim)) != [(1, "sendt"), (2, "leveret")]:
                assert time.monotonic() < deadline, tries  # the answer of attempt 2 is recorded after it came
                time.sleep(0.05)
        finally:
            sim.stop()


def test_sigterm_lets_a_push_in_flight_finish_within_the_bound(
    tmp_path, routes_dir, messages_dir, vhost_url, clean, database_url
):
    clean(PUSH_DUESLAG)
    receiver = HoldingReceiver()
    with LiveServer(receiver.app) as server:
        setup_push(messages_dir, f"{server.url}/modtag")
        env = dict(
            SIMULATOR_ROUTES_DIR=str(routes_dir),
            SIMULATOR_MESSAGES_DIR=str(messages_dir),
            SIMULATOR_DATABASE_URL=database_url,
            SIMULATOR_BROKER_URL=vhost_url,
        )
        sim = SimProcess(tmp_path, **env).start()
        try:
            first, second = statusskift(), statusskift()
            _send(sim, first)
            assert receiver.first_arrived.wait(30)
            t0 = time.monotonic()
            sim.proc.terminate()
            threading.Timer(1.0, receiver.release.set).start()  # the receiver answers 20 a second later
            sim.proc.wait(STOP_BOUND_S + 5)
            stopped_in = time.monotonic() - t0
            assert stopped_in < STOP_BOUND_S, f"stopping took {stopped_in:.1f} s"
            sim = SimProcess(tmp_path, **env).start()
            _send(sim, second)
            got = receiver.wait_for(2)
            # the first was delivered once (its 20 was heard before stopping), then the second came
            assert got == [(besked_id(first), 1), (besked_id(second), 1)], got
            print(f"SIGTERM with a push in flight (answered after 1 s): stopped in {stopped_in:.2f} s")
        finally:
            sim.stop()
