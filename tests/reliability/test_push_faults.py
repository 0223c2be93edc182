"""A push receiver that times out, answers 40, answers HTTP 500, or is down for a while: once it is back
(and, where the answer stopped the dueslag, once the dueslag is resumed) every accepted message has
reached it, each is delivered once by the simulator's books, and a message the receiver saw twice is a
visible redelivery (same BeskedId, higher AntalLeveranceforsoeg), never a silent duplicate."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import pytest
from fastapi import FastAPI, Request, Response
from lxml import etree

from simulator.beskedfordeler import kuvert as kv
from tests.beskedfordeler.conftest import besked_id, statusskift
from tests.beskedfordeler.test_push import PUSH_DUESLAG, send, setup_push, until
from tests.beskedfordeler.test_rabbitmq import clean, vhost_url  # noqa: F401 - fixtures
from tests.conftest import LiveServer, free_port

TIMEOUT_S = 0.5


class FlakyReceiver:
    """Answers each push with the next behaviour queued in `plan` (then 20): a StatusKode, "500", or
    ("sleep", s) to answer only after s seconds."""

    def __init__(self) -> None:
        self.plan: list = []
        self.seen: list[tuple[str, int]] = []  # (BeskedId, AntalLeveranceforsoeg) of every push received
        self.answered: list[tuple[str, int, object]] = []  # the same, with what the push was answered
        self.stopping = False  # it gave an answer that stops the dueslag, and nobody has resumed it since
        self.while_stopped: list[tuple[str, int]] = []  # pushes that came all the same
        self.app = FastAPI()

        @self.app.post("/modtag")
        async def modtag(request: Request) -> Response:
            root = etree.fromstring(await request.body())
            push = (
                kv.unikid(root.find(f".//{kv.k('BeskedId')}")),
                int(root.findtext(f".//{kv.k('AntalLeveranceforsoeg')}")),
            )
            self.seen.append(push)
            if self.stopping:
                self.while_stopped.append(push)
            step = self.plan.pop(0) if self.plan else 20
            self.answered.append((*push, step))
            self.stopping = self.stopping or step not in (20, 40)  # 500, another code, too late: stopped
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


DOWN_S = 2.0  # how long the receiver is down in the stream test (the simulator does not wait for it: a refused
# connection stops the dueslag at once, so a longer outage only means more stop/resume cycles)


@pytest.mark.parametrize("broker", ["in-process", "rabbitmq"])
async def test_a_stream_through_a_failing_then_down_receiver_reaches_it_once_each(
    broker, sim_factory, messages_dir, request
) -> None:
    """30 messages while the receiver answers 40, HTTP 500 and too late, then is down for DOWN_S seconds,
    with an operator resuming the dueslag whenever it stops: once the receiver is back it has every
    message, each acknowledged by it (20 in time) exactly once, and nothing after that."""
    overrides: dict = {}
    if broker == "rabbitmq":
        request.getfixturevalue("clean")(PUSH_DUESLAG)
        overrides["broker_url"] = request.getfixturevalue("vhost_url")
    receiver = FlakyReceiver()
    port = free_port()
    setup_push(messages_dir, f"http://127.0.0.1:{port}/modtag")
    sent: list[str] = []
    resumes = 0

    async def send_new(n: int) -> None:
        for _ in range(n):
            body = statusskift()
            sent.append(besked_id(body))
            await send(sim, body)

    async def operator() -> None:  # resumes a stopped dueslag, as a watchdog script would
        nonlocal resumes
        while True:
            if await _stopped(sim):
                receiver.stopping = False
                await sim.client.post(f"/api/beskedfordeler/dueslag/{PUSH_DUESLAG}/genoptag")
                resumes += 1
            await asyncio.sleep(0.05)

    async def connect_errors() -> int:
        return sum("ConnectError" in (t["detail"] or "") for t in await _attempts(sim))

    async def all_delivered() -> bool:
        return set(sent) <= set(await _copies(sim, "delivered"))

    async def outage_over() -> bool:  # DOWN_S seconds, and the dueslag met the refused connection (again)
        return time.monotonic() - t_down >= DOWN_S and await connect_errors() >= 2

    async with sim_factory(forward_timeout_s=TIMEOUT_S, **overrides) as sim:
        watchdog = asyncio.create_task(operator())
        try:
            with LiveServer(receiver.app, port=port):
                late = ("sleep", TIMEOUT_S * 3)  # answers 20, but after the simulator gave up
                receiver.plan = [20, 40, "500", 20, 53, late, 40, 40, "500", 20, 53, "500", 53, 20, "500"]
                await send_new(15)
                await until(all_delivered, timeout=30, what="delivery through the faults")
                assert not receiver.plan
            t_down = time.monotonic()  # the receiver is down; the stream goes on
            await send_new(10)
            await until(outage_over, timeout=DOWN_S + 10, what="the dueslag to stop again and again on the outage")
            refused = await connect_errors()
            receiver.plan = ["500", 53, "500", 53, "500", 53]  # back, but failing for a while
            with LiveServer(receiver.app, port=port):  # back on the same address
                down_s = time.monotonic() - t_down
                await send_new(5)
                await until(all_delivered, timeout=30, what="delivery after the outage")
        finally:
            watchdog.cancel()
        assert not await _stopped(sim)
        books = await _attempts(sim)
        copies = await _copies(sim)

    # nothing was pushed while the dueslag was stopped: each stop took a resume to push again ...
    stops = sum(t["outcome"] == "stoppet" for t in books)
    assert stops == resumes, f"{stops} stops, {resumes} resumes: pushed while stopped"
    # ... and nothing reached the receiver in between
    assert not receiver.while_stopped, f"pushed while stopped: {receiver.while_stopped}"
    # the receiver has every message, and acknowledged each exactly once, with its last push
    pushes: dict[str, list[tuple[int, object]]] = {}
    for b, attempt, step in receiver.answered:
        pushes.setdefault(b, []).append((attempt, step))
    assert set(pushes) == set(sent) == set(copies)
    for b, seen in pushes.items():
        attempts = [a for a, _ in seen]
        assert attempts == sorted(set(attempts)), (b, seen)  # redeliveries are numbered, never repeated
        assert [step for _, step in seen].count(20) == 1 and seen[-1][1] == 20, (b, seen)
        assert copies[b] == ("delivered", attempts[-1])
    # the simulator's books: per message attempts 1..n, exactly one delivered, the last one
    per_message: dict[str, list[tuple[int, str]]] = {}
    for t in sorted(books, key=lambda t: (t["besked_id"], t["attempt"])):
        per_message.setdefault(t["besked_id"], []).append((t["attempt"], t["outcome"]))
    for b in sent:
        tries = per_message[b]
        assert [a for a, _ in tries] == list(range(1, len(tries) + 1)), (b, tries)
        assert [o for _, o in tries].count("leveret") == 1 and tries[-1][1] == "leveret", (b, tries)
    faults = len(receiver.answered) - len(sent)
    print(
        f"[{broker}] {len(sent)} messages; receiver down {down_s:.1f} s, {refused} refused connections, "
        f"{resumes} resumes; {len(receiver.answered)} pushes received ({faults} answered with a fault); "
        f"{len(books)} attempts booked"
    )


async def _all_pages(sim, listing: str, **filters: str) -> list[dict]:
    """Every row of one of the dueslag's listings, page by page (`before` = the last seq)."""
    rows: list[dict] = []
    params: dict = {**filters, "limit": 1000}
    while page := (await sim.client.get(f"/api/beskedfordeler/dueslag/{PUSH_DUESLAG}/{listing}", params=params)).json():
        rows += page
        params["before"] = page[-1]["seq"]
    return rows


async def _attempts(sim) -> list[dict]:
    return await _all_pages(sim, "forsoeg")


async def _copies(sim, state: str | None = None) -> dict[str, tuple[str, int]]:
    """The dueslag's copies: BeskedId → (state, attempts)."""
    rows = await _all_pages(sim, "leveringer", **({"state": state} if state else {}))
    return {r["besked_id"]: (r["state"], r["attempts"]) for r in rows}
