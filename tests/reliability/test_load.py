"""Load: a burst of 10,000 Beskedfordeler messages over RabbitMQ (KOMBIT's sample client behaviour) —
none lost, counts reconcile: sent = answered 20 = recorded = delivered to the dueslag, each exactly once.

(1,000 concurrent SOAP calls: tests/serviceplatform/test_pipeline.py::test_recording_survives_1000_concurrent_calls.)
"""

from __future__ import annotations

import asyncio
import time

from sqlalchemy import func, select

from simulator.beskedfordeler.models import BfBesked, BfLevering
from tests.beskedfordeler.conftest import PULL_DUESLAG, besked_id, pull_subscription, statuskode, statusskift
from tests.beskedfordeler.test_rabbitmq import (  # noqa: F401 - fixtures
    KombitSampleClient,
    basic_get_all,
    clean,
    vhost_url,
)

BURST = 10_000


async def test_a_burst_of_10000_messages_reconciles(sim_factory, messages_dir, vhost_url, clean):  # noqa: F811
    pull_subscription(messages_dir)
    bodies = [statusskift() for _ in range(BURST)]
    async with sim_factory(broker_url=vhost_url) as sim:

        def send_all() -> tuple[dict[str, int], float]:
            client = KombitSampleClient(vhost_url)
            t0 = time.monotonic()
            try:
                for start in range(0, BURST, 1000):  # publish (confirmed), then collect the replies
                    ids = [client.publish(b, correlation_id=besked_id(b)) for b in bodies[start : start + 1000]]
                    client.wait(ids, timeout=120)
            finally:
                client.close()
            return {cid: statuskode(reply)[0] for cid, reply in client.replies.items()}, time.monotonic() - t0

        answers, seconds = await asyncio.to_thread(send_all)
        assert len(answers) == BURST and set(answers.values()) == {20}
        bf = sim.rt.state["beskedfordeler"]
        await bf.wait_distributed(timeout=120)
        async with sim.rt.db.session() as s:
            recorded = await s.scalar(select(func.count()).select_from(BfBesked))
            deliveries = await s.scalar(
                select(func.count()).select_from(BfLevering).where(BfLevering.dueslag == PULL_DUESLAG)
            )
        got = await asyncio.to_thread(basic_get_all, vhost_url, PULL_DUESLAG, BURST, 120.0)
        ids = [props.message_id for _, props, _ in got]
        assert recorded == BURST and deliveries == BURST
        assert len(ids) == len(set(ids)) == BURST and set(ids) == set(answers)
        print(f"{BURST} messages answered in {seconds:.1f} s ({BURST / seconds:.0f}/s); recorded, distributed once")
