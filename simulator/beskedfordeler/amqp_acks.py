"""Settling AMQP deliveries in as few frames as possible (the send queue's consumer)."""

from __future__ import annotations

import asyncio
import logging

log = logging.getLogger(__name__)


class AckBatcher:
    """Settles the deliveries of one channel in as few frames as possible. Deliveries are handled
    concurrently and finish out of order; as soon as every delivery up to a tag is handled, one
    `basic.ack(tag, multiple=True)` settles them all (sent once per turn of the event loop). A nack is sent
    on its own; handled deliveries kept waiting behind a slow one are acked one by one once there are many
    of them, so the prefetch window never fills up with finished work. Frames go out in order, from one
    task at a time (a multiple ack must never overtake a single ack or nack of a tag it covers)."""

    MAX_WAITING = 32

    def __init__(self, channel, first_tag: int) -> None:
        self.channel = channel  # aiormq channel
        self.next = first_tag  # the lowest delivery tag not yet handled
        self.done: set[int] = set()  # handled, above `next`
        self.settled: set[int] = set()  # of those, already acked or nacked on their own
        self.frames: list[tuple[str, int, bool]] = []
        self.scheduled = False
        self.sender: asyncio.Task | None = None  # sending frames, while there are any

    def ack(self, tag: int) -> None:
        self.done.add(tag)
        self._schedule()

    def nack(self, tag: int) -> None:
        """Return the delivery to the queue (it is redelivered)."""
        self.done.add(tag)
        self.settled.add(tag)
        self.frames.append(("nack", tag, False))
        self._schedule()

    def _schedule(self) -> None:
        if not self.scheduled:
            self.scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self.scheduled = False
        last = None
        while self.next in self.done:
            self.done.discard(self.next)
            if self.next in self.settled:
                self.settled.discard(self.next)
            else:
                last = self.next
            self.next += 1
        if last is not None:
            # every tag up to `last` is handled; those between `last` and `next` were settled on their own
            self.frames.append(("ack", last, True))
        waiting = self.done - self.settled
        if len(waiting) >= self.MAX_WAITING:
            self.frames += [("ack", tag, False) for tag in sorted(waiting)]
            self.settled |= waiting
        if self.frames and self.sender is None:
            self.sender = asyncio.get_running_loop().create_task(self._send())

    async def _send(self) -> None:
        try:
            while self.frames:
                frames, self.frames = self.frames, []
                for kind, tag, multiple in frames:
                    if kind == "ack":
                        await self.channel.basic_ack(tag, multiple=multiple, wait=False)
                    else:
                        await self.channel.basic_nack(tag, requeue=True, wait=False)
        except Exception as e:  # noqa: BLE001 - the channel went away: the broker redelivers, a repeat is answered
            log.warning("could not settle sent messages: %s", e)
            self.frames.clear()
        finally:
            self.sender = None

    async def settled_all(self) -> None:
        """Return once every ack and nack handled so far has been sent."""
        await asyncio.sleep(0)  # a flush scheduled (call_soon) before now runs first
        if self.sender is not None:
            await self.sender
