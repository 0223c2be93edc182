"""One broker interface, two adapters: in-process (the embedded default) and RabbitMQ (aio-pika).

Topology on RabbitMQ (the vhost comes from the URL; KOMBIT's is `BF`):
- exchange `AFSEND_BESKED_EXCHANGE` (direct, durable) with the durable queue `AFSEND_BESKED_QUEUE` bound by
  routing key "": senders publish there; the simulator consumes it and answers on `reply_to`;
- one durable queue per dueslag, named by the dueslag UUID, dead-lettering (nack without requeue) into
- its error queue `<uuid>.fejlkoe` (durable).
Copies are published to the default exchange with routing key = dueslag UUID, persistent, mandatory,
with publisher confirms, `message_id` = BeskedId.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import unquote, urlparse

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


AfsendHandler = Callable[[AfsendRequest], Awaitable[bytes]]
Consumer = Callable[[Delivery], Awaitable[None]]


class Broker(Protocol):
    kind: str

    async def start(self, on_afsend: AfsendHandler) -> None: ...

    async def stop(self) -> None: ...

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

    async def stop(self) -> None:
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

    async def depth(self, dueslag: str) -> dict[str, int | None]:
        q = self._q(dueslag)
        return {"klar": len(q.ready), "ikke_kvitteret": q.unacked, "fejlkoe": len(q.errors)}

    def health(self) -> dict[str, Any]:
        return {"ok": True, "kind": self.kind, "queues": len(self.queues)}


# -- RabbitMQ ---------------------------------------------------------------------------------------------


def describe_url(url: str) -> dict[str, Any]:
    """Host, port and virtual host of an amqp URL (never the password)."""
    u = urlparse(url)
    vhost = unquote(u.path[1:]) if u.path and u.path != "/" else "/"
    return {"host": u.hostname, "port": u.port or (5671 if u.scheme == "amqps" else 5672), "vhost": vhost}


class _AckBatcher:
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


class RabbitBroker:
    """RabbitMQ through aio-pika's robust connection (reconnects and restores consumers by itself)."""

    kind = "rabbitmq"

    def __init__(self, url: str, *, afsend_prefetch: int = 256) -> None:
        self.url = url
        self.afsend_prefetch = afsend_prefetch
        self.connection = None
        self._pub = None  # channel with publisher confirms
        self._declared: set[str] = set()
        self.last_error: str | None = None
        self._cancels: list[Callable[[], Awaitable[None]]] = []
        self.reconnects = 0
        self._inflight: set[asyncio.Task] = set()
        self._ackers: dict[int, _AckBatcher] = {}
        self._afsend_tag: str | None = None
        self._stopping = False

    async def start(self, on_afsend: AfsendHandler) -> None:
        import aio_pika

        self.connection = await aio_pika.connect_robust(self.url, client_properties={"connection_name": "simulator"})
        self.connection.close_callbacks.add(self._closed)
        self.connection.reconnect_callbacks.add(self._reconnected)
        self._pub = await self.connection.channel(publisher_confirms=True)
        ch = await self.connection.channel(publisher_confirms=False)
        await ch.set_qos(prefetch_count=self.afsend_prefetch)
        self._afsend_channel = ch
        self._on_afsend = on_afsend
        await self._declare_afsend()
        # consumed on the channel itself (aiormq): each delivery is handled in a task of its own, as it comes,
        # without aio-pika's message object; after a reconnect aio-pika reopens the channel, then we consume again
        ch.reopen_callbacks.add(self._consume_afsend_again)
        await self._consume_afsend()

    async def _declare_afsend(self) -> None:
        import aio_pika

        exchange = await self._afsend_channel.declare_exchange(
            AFSEND_EXCHANGE, aio_pika.ExchangeType.DIRECT, durable=True
        )
        queue = await self._afsend_channel.declare_queue(AFSEND_QUEUE, durable=True)
        await queue.bind(exchange, routing_key="")

    async def _consume_afsend(self) -> None:
        channel = await self._afsend_channel.get_underlay_channel()
        if self._afsend_cancel not in channel.on_consumer_cancel_callbacks:
            channel.on_consumer_cancel_callbacks.add(self._afsend_cancel)
        self._afsend_tag = f"simulator-afsend-{uuid.uuid4().hex}"
        await channel.basic_consume(AFSEND_QUEUE, self._on_afsend_delivery, no_ack=False, consumer_tag=self._afsend_tag)

    async def _consume_afsend_again(self, *_args) -> None:
        try:
            await self._consume_afsend()
        except Exception as e:  # noqa: BLE001 - the next reconnect tries again
            log.warning("could not consume %s after reconnecting: %s", AFSEND_QUEUE, e)
            self.last_error = f"not consuming {AFSEND_QUEUE}: {e}"

    async def _afsend_cancel(self, frame) -> None:
        """The broker cancelled our consumer (say, the queue was deleted): declare it again and consume."""
        if frame.consumer_tag != self._afsend_tag or self._stopping:
            return

        async def again() -> None:
            try:
                await self._declare_afsend()
                await self._consume_afsend()
            except Exception as e:  # noqa: BLE001
                log.warning("could not consume %s again: %s", AFSEND_QUEUE, e)
                self.last_error = f"not consuming {AFSEND_QUEUE}: {e}"

        task = asyncio.get_running_loop().create_task(again())
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)

    async def _on_afsend_delivery(self, message) -> None:
        """One message sent to AFSEND_BESKED_EXCHANGE: handle it, answer on reply_to, acknowledge it."""
        from pamqp.commands import Basic

        channel = message.channel
        tag = message.delivery.delivery_tag
        props = message.header.properties
        task = asyncio.current_task()
        if task is not None:
            self._inflight.add(task)
        acks = self._acks_for(channel, tag)
        try:
            req = AfsendRequest(
                body=message.body,
                headers={str(k).lower(): _header(v) for k, v in (props.headers or {}).items()},
                correlation_id=props.correlation_id,
                message_id=props.message_id,
                reply_to=props.reply_to,
            )
            try:
                reply = await self._on_afsend(req)
            except Exception:  # noqa: BLE001 - leave it for redelivery
                log.exception("handling a sent message failed")
                acks.nack(tag)
                return
            try:
                if props.reply_to:
                    # direct reply-to: if the sender went away the reply is dropped (not mandatory). Published on
                    # the delivering channel without waiting for the socket write, like the ack below.
                    await channel.basic_publish(
                        reply,
                        routing_key=props.reply_to,
                        properties=Basic.Properties(
                            correlation_id=props.correlation_id,
                            content_type="application/xml",
                            content_encoding="utf-8",
                        ),
                        mandatory=False,
                        wait=False,
                    )
                acks.ack(tag)  # acknowledged with its neighbours (basic.ack multiple)
            except Exception as e:  # noqa: BLE001 - the message is stored; a redelivery is answered again
                log.warning("could not answer %s: %s", props.correlation_id, e)
                acks.nack(tag)
        finally:
            if task is not None:
                self._inflight.discard(task)

    def _acks_for(self, channel, first_tag: int) -> _AckBatcher:
        """The ack batcher of the channel a delivery came on (a reconnect brings a new channel, whose
        delivery tags start again at 1)."""
        acks = self._ackers.get(id(channel))
        if acks is None or acks.channel is not channel:
            for key, other in list(self._ackers.items()):
                if other.channel.is_closed:
                    del self._ackers[key]
            acks = self._ackers[id(channel)] = _AckBatcher(channel, first_tag)
        return acks

    def _closed(self, *_args) -> None:
        self.last_error = "connection lost; reconnecting"

    def _reconnected(self, *_args) -> None:
        self.last_error = None
        self.reconnects += 1

    @property
    def connected(self) -> bool:
        return self.connection is not None and not self.connection.is_closed and self.last_error is None

    async def stop(self) -> None:
        self._stopping = True
        if self._afsend_tag is not None and self.connected:
            with contextlib.suppress(Exception):  # take no more
                channel = await self._afsend_channel.get_underlay_channel()
                await asyncio.wait_for(channel.basic_cancel(self._afsend_tag), timeout=5)
        if self._inflight:  # let messages being handled get their answer
            await asyncio.wait(list(self._inflight), timeout=10)
        with contextlib.suppress(TimeoutError):  # and their acknowledgements go out
            await asyncio.wait_for(asyncio.gather(*(a.settled_all() for a in self._ackers.values())), timeout=1)
        for cancel in self._cancels:
            with contextlib.suppress(Exception):
                await cancel()
        if self.connection is not None:
            with contextlib.suppress(Exception):
                await self.connection.close()

    async def declare(self, dueslag: str) -> None:
        await self._declare_on(self._pub, dueslag)
        self._declared.add(dueslag)

    @staticmethod
    async def _declare_on(channel, dueslag: str):
        await channel.declare_queue(error_queue(dueslag), durable=True)
        return await channel.declare_queue(
            dueslag,
            durable=True,
            arguments={"x-dead-letter-exchange": "", "x-dead-letter-routing-key": error_queue(dueslag)},
        )

    async def publish(self, dueslag: str, items: list[tuple[str, bytes]]) -> None:
        from pamqp.commands import Basic

        if self._pub is None or self._pub.is_closed:
            raise BrokerUnavailable("RabbitMQ channel is closed")
        try:
            # straight onto the confirming channel (aiormq): every publish is written at once, then all the
            # confirms are awaited together
            channel = await asyncio.wait_for(self._pub.get_underlay_channel(), timeout=30)
            await asyncio.wait_for(
                asyncio.gather(
                    *(
                        channel.basic_publish(
                            body,
                            routing_key=dueslag,
                            properties=Basic.Properties(
                                message_id=besked_id,
                                content_type="application/xml",
                                content_encoding="utf-8",
                                delivery_mode=2,  # persistent
                            ),
                            mandatory=True,
                            wait=False,
                        )
                        for besked_id, body in items
                    )
                ),
                timeout=30,
            )
        except Exception as e:
            raise BrokerUnavailable(f"publishing to {dueslag} failed: {type(e).__name__}: {e}") from e

    def _delivery(self, dueslag: str, message) -> Delivery:
        async def ack() -> None:
            await message.ack()

        async def nack(requeue: bool) -> None:
            await message.nack(requeue=requeue)

        return Delivery(dueslag, message.message_id or "", message.body, bool(message.redelivered), ack, nack)

    async def _channel(self):
        if self.connection is None or self.connection.is_closed:
            raise BrokerUnavailable("RabbitMQ connection is closed")
        return await self.connection.channel()

    async def get(self, dueslag: str, *, fejlkoe: bool = False) -> Delivery | None:
        """basic.get on a channel of its own, kept open until the delivery is settled."""
        ch = await self._channel()
        try:
            queue = await ch.get_queue(error_queue(dueslag) if fejlkoe else dueslag, ensure=False)
            message = await queue.get(no_ack=False, fail=False)
        except Exception:
            await ch.close()
            raise
        if message is None:
            await ch.close()
            return None
        d = self._delivery(dueslag, message)

        async def ack() -> None:
            try:
                await message.ack()
            finally:
                await ch.close()

        async def nack(requeue: bool) -> None:
            try:
                await message.nack(requeue=requeue)
            finally:
                await ch.close()

        d._ack, d._nack = ack, nack
        return d

    async def consume(self, dueslag: str, consumer: Consumer) -> Callable[[], Awaitable[None]]:
        ch = await self._channel()
        await ch.set_qos(prefetch_count=1)
        queue = await self._declare_on(ch, dueslag)

        async def on_message(message) -> None:
            d = self._delivery(dueslag, message)
            try:
                await consumer(d)
            except Exception:  # noqa: BLE001 - a consumer failure returns the message
                log.exception("consumer of dueslag %s failed", dueslag)
                with contextlib.suppress(Exception):
                    await d.nack(True)

        tag = await queue.consume(on_message, no_ack=False)

        async def cancel() -> None:
            with contextlib.suppress(Exception):
                await queue.cancel(tag)
            with contextlib.suppress(Exception):
                await ch.close()

        self._cancels.append(cancel)
        return cancel

    async def _drain(self, ch, name: str) -> list:
        queue = await ch.get_queue(name, ensure=False)
        out = []
        while True:
            message = await queue.get(no_ack=False, fail=False)
            if message is None:
                return out
            out.append(message)

    async def present(self, dueslag: str) -> set[str]:
        """Take every message of the dueslag (unacked), ack duplicate copies, return the rest on close."""
        ch = await self._channel()
        seen: set[str] = set()
        try:
            await self._declare_on(ch, dueslag)
            for message in await self._drain(ch, dueslag):
                if message.message_id in seen:
                    await message.ack()  # a duplicate copy from an unconfirmed publish: drop it
                else:
                    seen.add(message.message_id or "")
            for message in await self._drain(ch, error_queue(dueslag)):
                seen.add(message.message_id or "")
        finally:
            await ch.close()  # everything not acked goes back to its queue, in order
        return seen

    async def _move(self, source: str, target: str, besked_id: str | None, *, first_only: bool) -> list[str]:
        import aio_pika

        ch = await self.connection.channel(publisher_confirms=True)
        moved: list[str] = []
        try:
            for message in await self._drain(ch, source):
                if (besked_id is None or message.message_id == besked_id) and not (first_only and moved):
                    await ch.default_exchange.publish(
                        aio_pika.Message(
                            message.body,
                            message_id=message.message_id,
                            content_type=message.content_type,
                            content_encoding="utf-8",
                            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                        ),
                        routing_key=target,
                        mandatory=True,
                    )
                    await message.ack()
                    moved.append(message.message_id or "")
        finally:
            await ch.close()
        return moved

    async def to_error(self, dueslag: str, besked_id: str | None) -> str | None:
        moved = await self._move(dueslag, error_queue(dueslag), besked_id, first_only=True)
        return moved[0] if moved else None

    async def from_error(self, dueslag: str, besked_id: str | None) -> list[str]:
        return await self._move(error_queue(dueslag), dueslag, besked_id, first_only=False)

    async def depth(self, dueslag: str) -> dict[str, int | None]:
        try:
            ch = await self._channel()
        except BrokerUnavailable:
            return {"klar": None, "fejlkoe": None}
        try:
            q = await ch.declare_queue(dueslag, passive=True)
            e = await ch.declare_queue(error_queue(dueslag), passive=True)
            return {
                "klar": q.declaration_result.message_count,
                "fejlkoe": e.declaration_result.message_count,
                "forbrugere": q.declaration_result.consumer_count,
            }
        except Exception:  # noqa: BLE001
            return {"klar": None, "fejlkoe": None}
        finally:
            with contextlib.suppress(Exception):
                await ch.close()

    def health(self) -> dict[str, Any]:
        return {
            "ok": self.connected,
            "kind": self.kind,
            **describe_url(self.url),
            "reconnects": self.reconnects,
            **({"error": self.last_error} if self.last_error else {}),
        }


def _header(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def make_broker(url: str | None) -> Broker:
    return RabbitBroker(url) if url else InProcessBroker()
