"""Pull over HTTP (the embedded mode's BeskedHent): messages taken from a dueslag are leased to the caller
until it acknowledges (`kvitter`) or refuses (`afvis`) them; a lease that runs out returns the message, like
an unacknowledged AMQP delivery."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from typing import Any

from simulator.beskedfordeler.broker import Broker, Delivery
from simulator.beskedfordeler.store import BeskedStore


class Puller:
    def __init__(self, broker: Broker, store: BeskedStore) -> None:
        self.broker = broker
        self.store = store
        self.leases: dict[str, tuple[Delivery, float]] = {}
        self._sweeper: asyncio.Task | None = None

    def start(self) -> None:
        self._sweeper = asyncio.create_task(self._sweep(), name="bf-leases")

    async def stop(self) -> None:
        """Return every leased message to its dueslag."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._sweeper
        for d, _ in list(self.leases.values()):
            with contextlib.suppress(Exception):
                await d.nack(True)
        self.leases.clear()

    async def hent(self, dueslag: str, antal: int, lease_s: float) -> list[dict[str, Any]]:
        out = []
        for _ in range(antal):
            d = await self.broker.get(dueslag)
            if d is None:
                break
            tag = str(uuid.uuid4())
            self.leases[tag] = (d, time.monotonic() + lease_s)
            out.append(
                {
                    "kvittering": tag,
                    "besked_id": d.besked_id,
                    "redelivered": d.redelivered,
                    "besked": d.body.decode("utf-8"),
                }
            )
        return out

    async def kvitter(self, dueslag: str, tags: list[str], *, ack: bool, requeue: bool = True) -> dict[str, list]:
        done, unknown = [], []
        for tag in tags:
            lease = self.leases.get(tag)
            if lease is None or lease[0].dueslag != dueslag:
                unknown.append(tag)
                continue
            self.leases.pop(tag)
            d = lease[0]
            if ack:
                await d.ack()
                await self.store.settle(dueslag, d.besked_id, "acked")
            else:
                await d.nack(requeue)
                if not requeue:
                    await self.store.settle(dueslag, d.besked_id, "fejlkoe")
            done.append(tag)
        return {"done": done, "unknown": unknown}

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(0.5)
            now = time.monotonic()
            for tag, (d, until) in list(self.leases.items()):
                if until < now:
                    self.leases.pop(tag, None)
                    with contextlib.suppress(Exception):
                        await d.nack(True)
