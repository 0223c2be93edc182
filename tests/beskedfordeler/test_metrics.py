"""The Beskedfordeler's figures on `GET /metrics` after traffic (issue 20, item 5), on SQLite and PostgreSQL
with the real RabbitMQ: messages answered by StatusKode, messages waiting in a dueslag, failed push attempts."""

from __future__ import annotations

from simulator.beskedfordeler import Beskedfordeler
from tests.beskedfordeler.conftest import (
    FORDRING,
    PULL_DUESLAG,
    STATUSSKIFT,
    fordring,
    pull_subscription,
    statuskode,
    statusskift,
    write_subscriptions,
)
from tests.beskedfordeler.test_isolation import latin1_message
from tests.beskedfordeler.test_push import PUSH_ABONNEMENT, PUSH_DUESLAG, attempts, until
from tests.ky.test_metrics import samples


async def test_besked_counts_dueslag_depth_and_push_failures_after_traffic(
    backend, sim_factory, messages_dir, vhost_url, clean, push_receiver
):
    clean(PULL_DUESLAG, PUSH_DUESLAG)
    receiver, server = push_receiver
    receiver.answers = [40]  # the first push attempt fails, the next delivers
    pull_subscription(messages_dir, keep_ky=False, beskedtyper=[STATUSSKIFT])
    write_subscriptions(
        messages_dir,
        [
            {
                "uuid": PUSH_DUESLAG,
                "system": "ky",
                "levering": "push",
                "callback": f"{server.url}/modtag",
                "pause_s": 0.05,
            }
        ],
        [{"uuid": PUSH_ABONNEMENT, "dueslag": PUSH_DUESLAG, "beskedtyper": [FORDRING]}],
    )
    async with sim_factory(backend, broker_url=vhost_url) as sim:
        bodies = [statusskift(), statusskift(), statusskift(), latin1_message(), statusskift(municipality="22222222")]
        bodies.append(fordring())
        answers = []
        for body in bodies:
            r = await sim.client.post("/beskedfordeler/afsend", content=body)
            answers.append(statuskode(r.content)[0])
        assert answers == [20, 20, 20, 40, 43, 20]
        bf = sim.rt.get(Beskedfordeler)
        await bf.wait_distributed()
        tries = await until(lambda: _delivered(sim), what="the push to succeed")
        assert [t["outcome"] for t in tries] == ["pause", "leveret"]
        await bf.refresh_depths()
        got = samples((await sim.client.get("/metrics")).text)
        assert got[("simulator_besked_messages_total", (("statuskode", "20"),))] == 4
        assert got[("simulator_besked_messages_total", (("statuskode", "40"),))] == 1
        assert got[("simulator_besked_messages_total", (("statuskode", "43"),))] == 1
        assert got[("simulator_dueslag_depth", (("dueslag", PULL_DUESLAG),))] == 3
        assert got[("simulator_dueslag_depth", (("dueslag", PUSH_DUESLAG),))] == 0
        assert got[("simulator_push_failures_total", (("dueslag", PUSH_DUESLAG),))] == 1


async def _delivered(sim) -> list[dict] | None:
    tries = await attempts(sim)
    return tries if tries and tries[-1]["outcome"] == "leveret" else None
