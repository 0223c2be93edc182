"""A push receiver that times out, answers 40, answers HTTP 500, or is down for a while: once it is back
(and, where the answer stopped the dueslag, once the dueslag is resumed) every accepted message has
reached it, each is delivered once by the simulator's books, and a message the receiver saw twice is a
visible redelivery (same BeskedId, higher AntalLeveranceforsoeg), never a silent duplicate."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

from fastapi import FastAPI, Request, Response
from lxml import etree

from simulator.beskedfordeler import kuvert as kv
from tests.beskedfordeler.conftest import besked_id, statusskift
from tests.beskedfordeler.test_push import PUSH_DUESLAG, send, setup_push, until
from tests.conftest import LiveServer, free_port

TIMEOUT_S = 0.5


class FlakyReceiver:
    """Answers each push with the next behaviour queued in `plan` (then 20): a StatusKode, "500", or
    ("sleep", s) to answer only after s seconds."""

    def __init__(self) -> None:
        self.plan: list = []
        self.seen: list[tuple[str, int]] = []  # (BeskedId, AntalLeveranceforsoeg) of every push received
        self.app = FastAPI()

        @self.app.post("/modtag")
        async def modtag(request: Request) -> Response:
            root = etree.fromstring(await request.body())
            self.seen.append(
                (
                    kv.unikid(root.find(f".//{kv.k('BeskedId')}")),
                    int(root.findtext(f".//{kv.k('AntalLeveranceforsoeg')}")),
                )
            )
            step = self.plan.pop(0) if self.plan else 20
            if isinstance(step, tuple):
                await asyncio.sleep(step[1])
                step = 20
            if step == "500":
                return Response("internal error", status_code=500)
            return Response(
                '<sts:ModtagBeskedOutput xmlns:sts="urn:oio:sts:1.0.0" xmlns="urn:oio:sagdok:3.0.0">'
                f"<StandardRetur><StatusKode>{step}</StatusKode></StandardRetur></sts:ModtagBeskedOutput>",
                media_type="application/xml",
            )


async def _stopped(sim) -> str | None:
    ds = {d["uuid"]: d for d in (await sim.client.get("/api/beskedfordeler/dueslag")).json()}
    return ds[PUSH_DUESLAG]["stopped"]


async def _states(sim, ids: list[str]) -> list[tuple[str, int]]:
    out = []
    for b in ids:
        lev = (await sim.client.get(f"/api/beskedfordeler/beskeder/{b}")).json()["leveringer"][0]
        out.append((lev["state"], lev["attempts"]))
    return out


async def test_timeout_40_500_and_a_receiver_that_is_down_lose_and_duplicate_nothing(sim_factory, messages_dir) -> None:
    receiver = FlakyReceiver()
    port = free_port()
    setup_push(messages_dir, f"http://127.0.0.1:{port}/modtag")
    sent: list[str] = []
    async with sim_factory(forward_timeout_s=TIMEOUT_S) as sim:
        resume = f"/api/beskedfordeler/dueslag/{PUSH_DUESLAG}/genoptag"
        with LiveServer(receiver.app, port=port):
            # 1. the receiver takes longer than the timeout: the dueslag stops, the message stays queued
            receiver.plan = [("sleep", TIMEOUT_S * 4)]
            body = statusskift()
            sent.append(besked_id(body))
            await send(sim, body)
            reason = await until(lambda: _stopped(sim), what="the dueslag to stop on the timeout")
            assert "ReadTimeout" in reason or "Timeout" in reason
            # 2. resumed: the receiver answers 40 twice (pause and retry), then 20
            receiver.plan = [40, 40]
            await sim.client.post(resume)
            await until(lambda: _all_delivered(sim, sent), what="delivery after 40, 40")
            # 3. HTTP 500 stops the dueslag; resumed, it delivers
            receiver.plan = ["500"]
            body = statusskift()
            sent.append(besked_id(body))
            await send(sim, body)
            assert "HTTP 500" in await until(lambda: _stopped(sim), what="the dueslag to stop on HTTP 500")
            await sim.client.post(resume)
            await until(lambda: _all_delivered(sim, sent), what="delivery after 500")

        # 4. the receiver is down: messages accepted meanwhile wait in the dueslag
        t_down = time.monotonic()
        for _ in range(5):
            body = statusskift()
            sent.append(besked_id(body))
            await send(sim, body)
        assert "ConnectError" in await until(lambda: _stopped(sim), what="the dueslag to stop on a refused connection")
        with LiveServer(receiver.app, port=port):  # back on the same address
            down_s = time.monotonic() - t_down
            await sim.client.post(resume)
            await until(lambda: _all_delivered(sim, sent), what="delivery after the outage")

        states = await _states(sim, sent)
        assert all(state == "delivered" for state, _ in states), states
        assert not await _stopped(sim)
    # the receiver has every message; a message it saw more than once was a numbered redelivery
    per_message = Counter(b for b, _ in receiver.seen)
    assert set(per_message) == set(sent)
    for b, (_, booked_attempts) in zip(sent, states, strict=True):
        attempts = [n for seen_id, n in receiver.seen if seen_id == b]  # numbered, rising, the last one booked
        assert attempts == sorted(set(attempts)) and attempts[-1] == booked_attempts, (b, attempts)
    assert per_message[sent[0]] == 4  # timed out, 40, 40, 20
    assert per_message[sent[1]] == 2  # 500, 20
    assert all(per_message[b] == 1 for b in sent[2:])  # never reached the receiver while it was down
    assert states[2][1] == 2  # its first attempt met the refused connection
    print(f"receiver down {down_s:.1f} s; {len(sent)} messages, {len(receiver.seen)} pushes received")


async def _all_delivered(sim, ids: list[str]) -> bool:
    return all(state == "delivered" for state, _ in await _states(sim, ids))
