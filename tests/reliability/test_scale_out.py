"""Scale-out: two `simulator run` processes sharing one PostgreSQL database and one RabbitMQ virtual
host, load split between them. The KY ledger stays consistent under concurrent coverages of the same
claim (none lost, none counted twice, none above what is outstanding), a coverage id sent to both is
booked once, every answered call is recorded, and each Beskedfordeler message is distributed once."""

from __future__ import annotations

import asyncio
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
from tests.reliability.conftest import Outcomes, coverage_load, create_claim, resend_all


async def test_two_processes_one_database_one_broker(
    sim_process,
    postgres_database,
    messages_dir,
    vhost_url,  # noqa: F811
    clean,  # noqa: F811
) -> None:
    pull_subscription(messages_dir)
    env = {"SIMULATOR_BROKER_URL": vhost_url}
    a = sim_process(database_url=postgres_database, **env)
    b = sim_process(database_url=postgres_database, **env)  # started second: the schema is already there

    # 20 callers, half on each process, 40 coverages of 0.01 each, on one claim of 5.00: exactly 500 fit
    claim = create_claim(a.url, amount="5.00")
    out = Outcomes()
    await coverage_load([a.url, b.url], claim, clients=20, stop=asyncio.Event(), out=out, per_client=40)
    assert not out.unanswered and not out.other
    assert len(out.accepted) == 500 and len(out.refused) == 300
    assert set(out.refused.values()) == {"KY-DA-004"}  # above what is outstanding
    view = httpx.get(f"{b.url}/api/ky/claims/{claim}", timeout=30).json()
    assert (view["covered"], view["outstanding"], view["postings_count"]) == ("5.00", "0.00", 500)
    assert view["balance_consistent"]

    # the same 50 coverage ids sent to both processes at once: each booked once
    second = create_claim(b.url, amount="100.00")
    ids = [str(uuid.uuid4()) for _ in range(50)]
    both = await asyncio.gather(resend_all(a.url, second, ids, "1.00"), resend_all(b.url, second, ids, "1.00"))
    answers = [status for side in both for status, _ in side]
    repeats = sum("already registered" in (why or "") for side in both for _, why in side)
    assert set(answers) == {"ACCEPTERET"} and repeats == 50
    view = httpx.get(f"{a.url}/api/ky/claims/{second}", timeout=30).json()
    assert (view["postings_count"], view["covered"]) == (50, "50.00") and view["balance_consistent"]

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
    got = await asyncio.to_thread(basic_get_all, vhost_url, PULL_DUESLAG, 300, 60.0)
    per_id = Counter(props.message_id for _, props, _ in got)
    assert set(per_id) == {besked_id(x) for x in bodies} and set(per_id.values()) == {1}
    accepted = [httpx.get(f"{p.url}/healthz", timeout=10).json()["beskedfordeler"]["accepted"] for p in (a, b)]
    assert all(n > 0 for n in accepted), accepted  # both processes took a share
    print(f"coverages accepted {len(out.accepted)}, refused {len(out.refused)}; messages per process {accepted}")
