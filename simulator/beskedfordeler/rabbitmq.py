"""The RabbitMQ adapter (aio-pika, and aiormq underneath on the hot paths).

Topology (the vhost comes from the URL; KOMBIT's is `BF`):
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
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import unquote, urlparse

from simulator.beskedfordeler.amqp_acks import AckBatcher
from simulator.beskedfordeler.broker import (
    AFSEND_EXCHANGE,
    AFSEND_QUEUE,
    AfsendHandler,
    AfsendRequest,
    BrokerUnavailable,
    Consumer,
    Delivery,
    error_queue,
    is_direct_reply_to,
)

log = logging.getLogger(__name__)


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
        self._ackers: dict[int, AckBatcher] = {}
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
                if is_direct_reply_to(props.reply_to):
                    # only over direct reply-to, never into a queue the sender names (a dueslag, say);
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

    def _acks_for(self, channel, first_tag: int) -> AckBatcher:
        """The ack batcher of the channel a delivery came on (a reconnect brings a new channel, whose
        delivery tags start again at 1)."""
        acks = self._ackers.get(id(channel))
        if acks is None or acks.channel is not channel:
            for key, other in list(self._ackers.items()):
                if other.channel.is_closed:
                    del self._ackers[key]
            acks = self._ackers[id(channel)] = AckBatcher(channel, first_tag)
        return acks

    def _closed(self, *_args) -> None:
        self.last_error = "connection lost; reconnecting"

    def _reconnected(self, *_args) -> None:
        self.last_error = None
        self.reconnects += 1

    @property
    def connected(self) -> bool:
        return self.connection is not None and not self.connection.is_closed and self.last_error is None

    async def stop(self, timeout_s: float = 10.0) -> None:
        self._stopping = True
        deadline = time.monotonic() + timeout_s
        if self._afsend_tag is not None and self.connected:
            with contextlib.suppress(Exception):  # take no more
                channel = await self._afsend_channel.get_underlay_channel()
                await asyncio.wait_for(channel.basic_cancel(self._afsend_tag), timeout=min(5, timeout_s))
        if self._inflight:  # let messages being handled get their answer
            await asyncio.wait(list(self._inflight), timeout=max(0.1, deadline - time.monotonic()))
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

    async def whereabouts(self, dueslag: str, limit: int = 5000) -> tuple[set[str], set[str]] | None:
        """(BeskedIds ready on the dueslag queue, BeskedIds in its error queue), looked at without taking
        them (taken unacked, then returned in order by closing the channel); None when a queue holds more
        than `limit` (too many to look at on an admin read). Messages a consumer holds are in neither."""
        ch = await self._channel()
        try:
            ready_q = await ch.declare_queue(dueslag, passive=True)
            error_q = await ch.declare_queue(error_queue(dueslag), passive=True)
            if max(ready_q.declaration_result.message_count, error_q.declaration_result.message_count) > limit:
                return None
            ready = {m.message_id or "" for m in await self._drain(ch, dueslag)}
            errors = {m.message_id or "" for m in await self._drain(ch, error_queue(dueslag))}
            return ready, errors
        except Exception as e:  # noqa: BLE001 - an admin read must not fail on it
            log.debug("looking at dueslag %s failed: %s", dueslag, e)
            return None
        finally:
            with contextlib.suppress(Exception):
                await ch.close()

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
