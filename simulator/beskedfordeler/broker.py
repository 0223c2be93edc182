"""One broker interface, two adapters: in-process (the embedded default, here) and RabbitMQ (`rabbitmq.py`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

log = logging.getLogger(__name__)

AFSEND_EXCHANGE = "AFSEND_BESKED_EXCHANGE"
AFSEND_QUEUE = "AFSEND_BESKED_QUEUE"
ERROR_SUFFIX = ".fejlkoe"


def error_queue(dueslag: str) -> str:
    return f"{dueslag}{ERROR_SUFFIX}"


class BrokerUnavailable(RuntimeError):
    """The broker cannot take the operation now (connection down); retry later."""


@dataclass
class Delivery:
    """One message taken from a queue; settle it with ack() or nack(requeue)."""

    dueslag: str
    besked_id: str
    body: bytes
    redelivered: bool
    _ack: Callable[[], Awaitable[None]]
    _nack: Callable[[bool], Awaitable[None]]
    settled: bool = False

    async def ack(self) -> None:
        if not self.settled:
            self.settled = True
            await self._ack()

    async def nack(self, requeue: bool = True) -> None:
        if not self.settled:
            self.settled = True
            await self._nack(requeue)


@dataclass
class AfsendRequest:
    """A message published to AFSEND_BESKED_EXCHANGE, as the send handler gets it."""

    body: bytes
    headers: dict[str, str]
    correlation_id: str | None
    message_id: str | None
    reply_to: str | None


DIRECT_REPLY_TO = "amq.rabbitmq.reply-to"


def is_direct_reply_to(reply_to: str | None) -> bool:
    """Whether `reply_to` is RabbitMQ's direct reply-to (the pseudo-queue, or the per-channel name a sender's
    message carries: `amq.rabbitmq.reply-to.<token>`): the only place the Beskedfordeler answers."""
    return bool(reply_to) and (reply_to == DIRECT_REPLY_TO or reply_to.startswith(DIRECT_REPLY_TO + "."))


AfsendHandler = Callable[[AfsendRequest], Awaitable[bytes]]
Consumer = Callable[[Delivery], Awaitable[None]]


class Broker(Protocol):
    kind: str

    async def start(self, on_afsend: AfsendHandler) -> None: ...

    async def stop(self, timeout_s: float = 10.0) -> None:
        """Take no more; let sent messages being handled get their answer (at most `timeout_s`); close."""

    async def declare(self, dueslag: str) -> None: ...

    async def publish(self, dueslag: str, items: list[tuple[str, bytes]]) -> None:
        """Put (besked_id, body) copies on the dueslag queue; return once the broker holds all of them."""

    async def get(self, dueslag: str, *, fejlkoe: bool = False) -> Delivery | None: ...

    async def consume(self, dueslag: str, consumer: Consumer) -> Callable[[], Awaitable[None]]:
        """Deliver the dueslag's messages one at a time (prefetch 1); returns a cancel function."""

    async def present(self, dueslag: str) -> set[str]:
        """BeskedIds on the dueslag queue now (drops duplicate copies); used to reconcile after a crash."""

    async def to_error(self, dueslag: str, besked_id: str | None) -> str | None:
        """Move one message (by BeskedId, or the head) to the error queue; its BeskedId, or None."""

    async def from_error(self, dueslag: str, besked_id: str | None) -> list[str]:
        """Move messages (one by BeskedId, or all) from the error queue back to the dueslag queue."""

    async def depth(self, dueslag: str) -> dict[str, int | None]: ...

    async def whereabouts(self, dueslag: str) -> tuple[set[str], set[str]] | None:
        """(BeskedIds ready on the queue, BeskedIds in the error queue) when only the broker knows (receivers
        pulling over AMQP ack on the broker); None when the simulator's own bookkeeping is complete."""

    def health(self) -> dict[str, Any]: ...


# -- in-process -------------------------------------------------------------------------------------------


@dataclass
class _Msg:
    besked_id: str
    body: bytes
    redelivered: bool = False


@dataclass
class _Queue:
    ready: deque[_Msg] = field(default_factory=deque)
    errors: deque[_Msg] = field(default_factory=deque)
    unacked: int = 0
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def notify(self) -> None:
        self.changed.set()


class InProcessBroker:
    """Queues in memory; the service keeps their durable state in `bf_levering` and restores it at start."""

    kind = "in-process"

    def __init__(self) -> None:
        self.queues: dict[str, _Queue] = {}
        self._tasks: set[asyncio.Task] = set()

    async def start(self, on_afsend: AfsendHandler) -> None:
        self.on_afsend = on_afsend  # the embedded mode sends over HTTP or in-process calls only

    async def stop(self, timeout_s: float = 10.0) -> None:
        for t in list(self._tasks):
            t.cancel()
        for t in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self._tasks.clear()

    def _q(self, dueslag: str) -> _Queue:
        q = self.queues.get(dueslag)
        if q is None:
            q = self.queues[dueslag] = _Queue()
        return q

    async def declare(self, dueslag: str) -> None:
        self._q(dueslag)

    def restore(self, dueslag: str, besked_id: str, body: bytes, *, fejlkoe: bool = False) -> None:
        q = self._q(dueslag)
        (q.errors if fejlkoe else q.ready).append(_Msg(besked_id, body, redelivered=True))
        q.notify()

    async def publish(self, dueslag: str, items: list[tuple[str, bytes]]) -> None:
        q = self._q(dueslag)
        for besked_id, body in items:
            q.ready.append(_Msg(besked_id, body))
        q.notify()

    def _delivery(self, dueslag: str, msg: _Msg, q: _Queue, source: deque[_Msg]) -> Delivery:
        q.unacked += 1

        async def ack() -> None:
            q.unacked -= 1
            q.notify()

        async def nack(requeue: bool) -> None:
            q.unacked -= 1
            if requeue:
                msg.redelivered = True
                source.appendleft(msg)
            elif source is q.ready:
                q.errors.append(msg)  # dead-lettered, like the RabbitMQ queue's x-dead-letter settings
            q.notify()

        return Delivery(dueslag, msg.besked_id, msg.body, msg.redelivered, ack, nack)

    async def get(self, dueslag: str, *, fejlkoe: bool = False) -> Delivery | None:
        q = self._q(dueslag)
        source = q.errors if fejlkoe else q.ready
        if not source:
            return None
        return self._delivery(dueslag, source.popleft(), q, source)

    async def consume(self, dueslag: str, consumer: Consumer) -> Callable[[], Awaitable[None]]:
        q = self._q(dueslag)

        async def loop() -> None:
            while True:
                if not q.ready:
                    q.changed.clear()
                    await q.changed.wait()
                    continue
                d = self._delivery(dueslag, q.ready.popleft(), q, q.ready)
                try:
                    await consumer(d)
                except asyncio.CancelledError:
                    await d.nack(True)
                    raise
                except Exception:  # noqa: BLE001 - a consumer failure returns the message
                    log.exception("consumer of dueslag %s failed", dueslag)
                    await d.nack(True)

        task = asyncio.create_task(loop(), name=f"bf-consume-{dueslag}")
        self._tasks.add(task)

        async def cancel() -> None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
            self._tasks.discard(task)

        return cancel

    async def present(self, dueslag: str) -> set[str]:
        q = self._q(dueslag)
        seen: set[str] = set()
        kept: deque[_Msg] = deque()
        for m in q.ready:
            if m.besked_id not in seen:
                seen.add(m.besked_id)
                kept.append(m)
        q.ready = kept
        return seen | {m.besked_id for m in q.errors}

    async def to_error(self, dueslag: str, besked_id: str | None) -> str | None:
        q = self._q(dueslag)
        for m in list(q.ready):
            if besked_id is None or m.besked_id == besked_id:
                q.ready.remove(m)
                q.errors.append(m)
                q.notify()
                return m.besked_id
        return None

    async def from_error(self, dueslag: str, besked_id: str | None) -> list[str]:
        q = self._q(dueslag)
        moved = [m for m in q.errors if besked_id is None or m.besked_id == besked_id]
        for m in moved:
            q.errors.remove(m)
            q.ready.append(m)
        q.notify()
        return [m.besked_id for m in moved]

    async def whereabouts(self, dueslag: str) -> None:
        return None  # pulled over HTTP only: every ack and refusal is settled in bf_levering

    async def depth(self, dueslag: str) -> dict[str, int | None]:
        q = self._q(dueslag)
        return {"klar": len(q.ready), "ikke_kvitteret": q.unacked, "fejlkoe": len(q.errors)}

    def health(self) -> dict[str, Any]:
        return {"ok": True, "kind": self.kind, "queues": len(self.queues)}


def make_broker(url: str | None) -> Broker:
    if not url:
        return InProcessBroker()
    from simulator.beskedfordeler.rabbitmq import RabbitBroker

    return RabbitBroker(url)
