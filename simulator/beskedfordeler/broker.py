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

    async def start(self, on_afsend: AfsendHandler) -> None:
        import aio_pika

        self.connection = await aio_pika.connect_robust(self.url, client_properties={"connection_name": "simulator"})
        self.connection.close_callbacks.add(self._closed)
        self.connection.reconnect_callbacks.add(self._reconnected)
        self._pub = await self.connection.channel(publisher_confirms=True)
        ch = await self.connection.channel(publisher_confirms=False)
        await ch.set_qos(prefetch_count=self.afsend_prefetch)
        exchange = await ch.declare_exchange(AFSEND_EXCHANGE, aio_pika.ExchangeType.DIRECT, durable=True)
        queue = await ch.declare_queue(AFSEND_QUEUE, durable=True)
        await queue.bind(exchange, routing_key="")
        self._afsend_channel = ch

        async def handle(message) -> None:
            req = AfsendRequest(
                body=message.body,
                headers={str(k).lower(): _header(v) for k, v in (message.headers or {}).items()},
                correlation_id=message.correlation_id,
                message_id=message.message_id,
                reply_to=message.reply_to,
            )
            try:
                reply = await on_afsend(req)
            except Exception:  # noqa: BLE001 - leave it for redelivery
                log.exception("handling a sent message failed")
                with contextlib.suppress(Exception):
                    await message.nack(requeue=True)
                return
            try:
                if message.reply_to:
                    # direct reply-to: if the sender went away the reply is dropped (not mandatory)
                    await ch.default_exchange.publish(
                        aio_pika.Message(
                            reply,
                            correlation_id=message.correlation_id,
                            content_type="application/xml",
                            content_encoding="utf-8",
                        ),
                        routing_key=message.reply_to,
                        mandatory=False,
                    )
                await message.ack()
            except Exception as e:  # noqa: BLE001 - the message is stored; a redelivery is answered again
                log.warning("could not answer %s: %s", message.correlation_id, e)

        async def on_message(message) -> None:
            # handle many at once (up to the prefetch): the database writes are batched
            task = asyncio.create_task(handle(message))
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)

        await queue.consume(on_message, no_ack=False)

    def _closed(self, *_args) -> None:
        self.last_error = "connection lost; reconnecting"

    def _reconnected(self, *_args) -> None:
        self.last_error = None
        self.reconnects += 1

    @property
    def connected(self) -> bool:
        return self.connection is not None and not self.connection.is_closed and self.last_error is None

    async def stop(self) -> None:
        if self._inflight:  # let messages being handled get their answer
            await asyncio.wait(list(self._inflight), timeout=10)
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
        import aio_pika

        if self._pub is None or self._pub.is_closed:
            raise BrokerUnavailable("RabbitMQ channel is closed")
        ex = self._pub.default_exchange
        try:
            await asyncio.gather(
                *(
                    ex.publish(
                        aio_pika.Message(
                            body,
                            message_id=besked_id,
                            content_type="application/xml",
                            content_encoding="utf-8",
                            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                        ),
                        routing_key=dueslag,
                        mandatory=True,
                        timeout=30,
                    )
                    for besked_id, body in items
                )
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
