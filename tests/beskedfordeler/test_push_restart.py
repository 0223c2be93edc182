"""Push attempts are numbered across restarts (issue 17, finding 5), with the simulator as a real process on
the real RabbitMQ, SQLite and PostgreSQL: an attempt is recorded before it is sent, so after a SIGKILL in the
middle of a push the repeat carries a higher AntalLeveranceforsoeg; SIGTERM lets a push in flight finish
(within its bound), so the receiver that answered 20 does not get the message again."""

from __future__ import annotations

import asyncio
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
    """A push endpoint that holds a request for a BeskedId in `hold` until that BeskedId's event is set (once),
    then answers 20; every request is noted as (BeskedId, AntalLeveranceforsoeg)."""

    def __init__(self) -> None:
        self.got: list[tuple[str, int]] = []
        self.hold: dict[str, threading.Event] = {}
        self.arrived = threading.Condition()
        app = FastAPI()

        @app.post("/modtag")
        async def modtag(request: Request) -> Response:
            root = etree.fromstring(await request.body())
            hb = next(root.iter(kv.k("Haendelsesbesked")))
            bid = kv.unikid(hb.find(kv.k("BeskedId")))
            antal = int(hb.findall(f".//{kv.k('AntalLeveranceforsoeg')}")[-1].text)
            with self.arrived:
                self.got.append((bid, antal))
                self.arrived.notify_all()
            release = self.hold.pop(bid, None)
            if release is not None:
                await asyncio.to_thread(release.wait, 30)
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


def _attempts(sim: SimProcess) -> list[tuple[str, int, str]]:
    r = httpx.get(f"{sim.url}/api/beskedfordeler/dueslag/{PUSH_DUESLAG}/forsoeg", timeout=10)
    return sorted((a["besked_id"], a["attempt"], a["outcome"]) for a in r.json())


def test_push_attempts_are_numbered_across_sigkill_and_sigterm_waits_for_a_push_in_flight(
    tmp_path, routes_dir, messages_dir, vhost_url, clean, database_url
):
    """SIGKILL while the receiver holds message A (it answers 20 after the process died): after the restart
    A comes again with attempt 2. SIGTERM while it holds B (answered 20 a second later): the process waits
    for that answer, stops within the bound, and B never comes again."""
    clean(PUSH_DUESLAG)
    receiver = HoldingReceiver()
    a, b, c = statusskift(), statusskift(), statusskift()
    release_a, release_b = threading.Event(), threading.Event()
    receiver.hold = {besked_id(a): release_a, besked_id(b): release_b}
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
            _send(sim, a)
            receiver.wait_for(1)
            sim.kill()  # mid-push: the receiver has A, the simulator never hears its answer
            release_a.set()
            sim = SimProcess(tmp_path, **env).start()
            assert receiver.wait_for(2) == [(besked_id(a), 1), (besked_id(a), 2)]

            _send(sim, b)
            receiver.wait_for(3)
            t0 = time.monotonic()
            sim.proc.terminate()
            threading.Timer(1.0, release_b.set).start()  # the receiver answers 20 a second later
            sim.proc.wait(STOP_BOUND_S + 5)
            stopped_in = time.monotonic() - t0
            assert stopped_in < STOP_BOUND_S, f"stopping took {stopped_in:.1f} s"

            sim = SimProcess(tmp_path, **env).start()
            _send(sim, c)
            got = receiver.wait_for(4)
            # B was delivered once (its 20 was heard before stopping), then C came
            assert got == [(besked_id(a), 1), (besked_id(a), 2), (besked_id(b), 1), (besked_id(c), 1)], got
            deadline = time.monotonic() + 10
            expected = sorted(
                [
                    (besked_id(a), 1, "sendt"),
                    (besked_id(a), 2, "leveret"),
                    (besked_id(b), 1, "leveret"),
                    (besked_id(c), 1, "leveret"),
                ]
            )
            while (tries := _attempts(sim)) != expected:
                assert time.monotonic() < deadline, tries  # an answer is recorded a moment after it came
                time.sleep(0.05)
            print(f"SIGTERM with a push in flight (answered after 1 s): stopped in {stopped_in:.2f} s")
        finally:
            sim.stop()
