"""Scale-out: two `simulator run` processes sharing one PostgreSQL database and one RabbitMQ virtual
host, load split between them. The KY ledger stays consistent under concurrent coverages of the same
claim (none lost, none counted twice, none above what is outstanding), a coverage id sent to both is
booked once, every answered call is recorded, and each Beskedfordeler message is distributed once."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter

import httpx

from tests.beskedfordeler.conftest import PULL_DUESLAG, besked_id, pull_subscription, statuskode, statusskift
from tests.beskedfordeler.test_rabbitmq import (  # noqa: F401 - fixtures
    KombitSampleClient,
    basic_get_all,
    clean,
    vhost_url,
)
from tests.reliability.conftest import Outcomes, booked_coverages, coverage_load, create_claim, resend_all


def booked(url: str, claim: str) -> dict[str, str]:
    """The coverages booked on a claim (KY's ledger, admin API): coverage id → the exchange that booked it."""
    with httpx.Client(base_url=url, timeout=30) as api:
        return booked_coverages(api, claim)


def two_processes(sim_process, database_url: str, broker_url: str) -> tuple:
    a = sim_process(database_url=database_url, SIMULATOR_BROKER_URL=broker_url)
    b = sim_process(database_url=database_url, SIMULATOR_BROKER_URL=broker_url)  # second: the schema is there
    return a, b


async def test_two_processes_one_database_one_broker(
    sim_process,
    postgres_database,
    messages_dir,
    vhost_url,  # noqa: F811
    clean,  # noqa: F811
) -> None:
    pull_subscription(messages_dir)
    a, b = two_processes(sim_process, postgres_database, vhost_url)

    # 20 callers, half on each process, 40 coverages of 0.01 each, on one claim of 5.00: exactly 500 fit
    claim = create_claim(a.url, amount="5.00")
    out = Outcomes()
    t0 = time.monotonic()
    await coverage_load([a.url, b.url], claim, clients=20, stop=asyncio.Event(), out=out, per_client=40)
    coverage_s = time.monotonic() - t0
    assert not out.unanswered and not out.other
    assert len(out.accepted) == 500 and len(out.refused) == 300
    assert set(out.refused.values()) == {"KY-DA-004"}  # above what is outstanding
    view = httpx.get(f"{b.url}/api/ky/claims/{claim}", timeout=30).json()
    assert (view["covered"], view["outstanding"], view["postings_count"]) == ("5.00", "0.00", 500)
    assert view["balance_consistent"]
    # exactly the accepted coverages are booked, each once, by the exchange (of either process) that answered it
    assert booked(a.url, claim) == out.accepted

    # the same 50 coverage ids sent to both processes at once: each booked once
    second = create_claim(b.url, amount="100.00")
    ids = [str(uuid.uuid4()) for _ in range(50)]
    both = await asyncio.gather(resend_all(a.url, second, ids, "1.00"), resend_all(b.url, second, ids, "1.00"))
    answers = [status for side in both for status, _ in side]
    repeats = sum("already registered" in (why or "") for side in both for _, why in side)
    assert set(answers) == {"ACCEPTERET"} and repeats == 50
    view = httpx.get(f"{a.url}/api/ky/claims/{second}", timeout=30).json()
    assert (view["postings_count"], view["covered"]) == (50, "50.00") and view["balance_consistent"]
    assert set(booked(b.url, second)) == set(ids)

    # every answered SOAP call is recorded, whichever process answered it
    found = httpx.post(
        f"{a.url}/api/verify", json={"service": "DaekningAfskrivningRegistreringAfsend", "count": 0}, timeout=30
    ).json()["found"]
    assert found == out.answered + 100

    # Beskedfordeler: 300 messages published to the shared exchange (both processes consume it), 100 of
    # them twice; each reaches the dueslag once
    bodies = [statusskift() for _ in range(300)]

    def publish() -> dict[str, int]:
        client = KombitSampleClient(vhost_url)
        try:
            sent = [client.publish(x, correlation_id=besked_id(x)) for x in bodies]
            client.wait(sent, timeout=60)
            first = {cid: statuskode(r)[0] for cid, r in client.replies.items()}
            client.replies.clear()
            again = [client.publish(x, correlation_id=besked_id(x)) for x in bodies[:100]]
            client.wait(again, timeout=60)
            return first | {f"again-{cid}": statuskode(r)[0] for cid, r in client.replies.items()}
        finally:
            client.close()

    replies = await asyncio.to_thread(publish)
    assert len(replies) == 400 and set(replies.values()) == {20}
    over_amqp = [httpx.get(f"{p.url}/healthz", timeout=10).json()["beskedfordeler"]["accepted"] for p in (a, b)]
    assert sum(over_amqp) == 400 and all(n > 0 for n in over_amqp), over_amqp  # both processes took a share

    # and 50 more over HTTP, half to each process
    over_http = [statusskift() for _ in range(50)]
    async with httpx.AsyncClient(timeout=30) as http:
        answered = await asyncio.gather(
            *(http.post(f"{(a, b)[i % 2].url}/beskedfordeler/afsend", content=x) for i, x in enumerate(over_http))
        )
    assert [(r.status_code, statuskode(r.content)) for r in answered] == [(200, (20, None))] * 50

    got = await asyncio.to_thread(basic_get_all, vhost_url, PULL_DUESLAG, 350, 60.0)
    per_id = Counter(props.message_id for _, props, _ in got)
    assert set(per_id) == {besked_id(x) for x in bodies + over_http} and set(per_id.values()) == {1}
    sends = httpx.post(f"{b.url}/api/verify", json={"service": "BeskedAfsend", "count": 0}, timeout=30).json()
    assert sends["found"] == 450  # every send answered is recorded, repeats included
    print(
        f"{out.answered} coverage calls over two processes in {coverage_s:.1f} s: {len(out.accepted)} accepted, "
        f"{len(out.refused)} refused; 50 ids sent to both: booked once; AMQP sends answered per process {over_amqp}"
    )


async def test_the_same_message_sent_to_both_processes_at_once_is_accepted_and_distributed_once(
    sim_process,
    postgres_database,
    messages_dir,
    vhost_url,  # noqa: F811
    clean,  # noqa: F811
) -> None:
    """A sender that sends a message again (say, after a lost reply) may reach the other process while the
    first one is still storing it. docs/beskedfordeler.md: a repeat of the same message is answered 20 again
    and distributed once; both processes answer 20, the message is stored and distributed once, every send
    is recorded."""
    pull_subscription(messages_dir, keep_ky=False)
    a, b = two_processes(sim_process, postgres_database, vhost_url)
    rounds = [[statusskift() for _ in range(50)] for _ in range(4)]
    bodies = [x for r in rounds for x in r]
    answers: dict[str, list[tuple[int, str | None]]] = {}
    async with httpx.AsyncClient(timeout=30) as http:

        async def send(url: str, body: bytes) -> tuple[int, str | None]:
            r = await http.post(f"{url}/beskedfordeler/afsend", content=body)
            assert r.status_code == 200, r.text[:300]
            return statuskode(r.content)

        for batch in rounds:  # 50 messages, each sent to both processes at the same moment
            first = await asyncio.gather(*(send(p.url, x) for x in batch for p in (a, b)))
            answers |= {besked_id(x): first[2 * i : 2 * i + 2] for i, x in enumerate(batch)}
    not_20 = {bid: pair for bid, pair in answers.items() if pair != [(20, None), (20, None)]}
    assert not not_20, f"{len(not_20)} of {len(bodies)} messages not answered 20 by both: {list(not_20.items())[:3]}"

    got = await asyncio.to_thread(basic_get_all, vhost_url, PULL_DUESLAG, len(bodies), 60.0)
    per_id = Counter(props.message_id for _, props, _ in got)
    assert per_id == Counter({besked_id(x): 1 for x in bodies})  # each distributed once, none lost
    sends = httpx.post(f"{a.url}/api/verify", json={"service": "BeskedAfsend", "count": 0}, timeout=30).json()
    assert sends["found"] == 2 * len(bodies)
    print(f"the same {len(bodies)} messages sent to both processes at once: all {2 * len(bodies)} sends answered 20")
