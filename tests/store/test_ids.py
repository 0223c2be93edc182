"""Exchange ids: lower-case UUIDs (version 7) that sort in the order they were made, so the journal's unique
index on `id` grows at its end."""

from __future__ import annotations

import time
import uuid

from simulator.soap.context import UUID_RE
from simulator.store.ids import exchange_id


def test_exchange_ids_are_version_7_uuids_in_the_order_they_were_made() -> None:
    made = []
    for _ in range(5):
        made += [exchange_id() for _ in range(200)]
        time.sleep(0.002)  # the clock itself is what the next batch waits for: a later millisecond
    assert len(set(made)) == len(made)
    for value in made:
        parsed = uuid.UUID(value)
        assert UUID_RE.match(value) and parsed.version == 7 and parsed.variant == uuid.RFC_4122
    stamps = [uuid.UUID(v).int >> 80 for v in made]
    assert stamps == sorted(stamps)  # milliseconds since the epoch, never going back
    batches = [made[i : i + 200] for i in range(0, len(made), 200)]
    assert all(max(a) < min(b) for a, b in zip(batches, batches[1:], strict=False))
    assert abs(stamps[-1] / 1000 - time.time()) < 5


async def test_the_pipeline_gives_each_exchange_such_an_id(sim) -> None:
    r = await sim.client.post("/service/nowhere", content=b"<x/>", headers={"Content-Type": "text/xml"})
    assert uuid.UUID(r.headers["x-simulator-exchange-id"]).version == 7
