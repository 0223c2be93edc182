"""Push delivery (BeskedFåTilsendt): one consumer per push dueslag POSTs each message as `ModtagBeskedInput`
to the dueslag's callback and reads the StandardRetur: 20 delivered; 40 pause (doubling) and retry; anything
else stops the dueslag until it is resumed. A callback `builtin:<name>` is a receiver inside the simulator,
registered by its component (`BeskedReceivers`), e.g. the simulated KY's `builtin:ky`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from simulator.beskedfordeler import kuvert as kv
from simulator.beskedfordeler.broker import Broker, Delivery
from simulator.beskedfordeler.config import Dueslag, Subscriptions
from simulator.beskedfordeler.store import BeskedStore
from simulator.soap.errors import SoapFaultError

if TYPE_CHECKING:
    from simulator.runtime import Runtime

log = logging.getLogger(__name__)

DEFAULT_PAUSE_S = 5.0
MAX_PAUSE_S = 300.0
BUILTIN = "builtin:"
STOP_WAIT_S = 3.0
"""How long shutdown waits for a push in flight (within the simulator's 10 s SIGTERM bound)."""

Receiver = Callable[[bytes], Awaitable[tuple[int, str]]]
"""A receiver inside the simulator: takes a ModtagBeskedInput body, answers (StatusKode, FejlbeskedTekst)."""


class Pusher:
    def __init__(self, rt: Runtime, broker: Broker, store: BeskedStore, subs: Subscriptions) -> None:
        self.rt = rt
        self.broker = broker
        self.store = store
        self.subs = subs
        self.receivers: dict[str, Receiver] = {}
        self.paused_until: dict[str, float] = {}
        self._consumers: dict[str, Callable[[], Awaitable[None]]] = {}
        self._token: dict[str, object] = {}  # push dueslag → its current consumer (older handlers give up)
        self._lock: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)  # one push at a time per dueslag
        self._stopping = asyncio.Event()  # set at shutdown (stop_all)
        self._active: set[asyncio.Task] = set()  # handlers running _push

    def consuming(self, dueslag: str) -> bool:
        return dueslag in self._consumers

    async def register(self, callback: str, receiver: Receiver) -> None:
        """A receiver inside the simulator takes the messages of the push dueslag whose callback names it."""
        self.receivers[callback] = receiver
        for d in list(self.subs.dueslag.values()):
            if d.callback == callback:
                await self.start(d)

    async def unregister(self, callback: str) -> None:
        self.receivers.pop(callback, None)
        for d in list(self.subs.dueslag.values()):
            if d.callback == callback:
                await self.stop(d.uuid)

    def waiting_for_receiver(self) -> list[str]:
        """Push dueslag whose built-in receiver is not (yet) registered: their messages wait in the queue."""
        return sorted(
            d.uuid
            for d in self.subs.dueslag.values()
            if d.levering == "push" and (d.callback or "").startswith(BUILTIN) and d.callback not in self.receivers
        )

    async def start(self, d: Dueslag) -> None:
        if d.levering != "push" or d.uuid in self.subs.stopped or d.uuid in self._consumers:
            return
        if (d.callback or "").startswith(BUILTIN) and d.callback not in self.receivers:
            return  # started when its receiver registers
        token = self._token[d.uuid] = object()
        self._consumers[d.uuid] = await self.broker.consume(d.uuid, lambda dl, d=d, t=token: self._push(d, dl, t))

    async def stop(self, uuid_: str) -> None:
        self._token.pop(uuid_, None)
        cancel = self._consumers.pop(uuid_, None)
        if cancel is not None:
            await cancel()

    async def stop_all(self, timeout_s: float = STOP_WAIT_S) -> None:
        """Shutdown: no new attempt starts, pauses end, and a push in flight may finish (its answer recorded,
        the message acked) for at most `timeout_s`; then the consumers are cancelled (what they hold returns
        to the dueslag, and its next attempt is numbered on)."""
        self._stopping.set()
        active = [t for t in self._active if t is not asyncio.current_task()]
        if active:
            _, late = await asyncio.wait(active, timeout=timeout_s)
            if late:
                log.warning("stopping: %d push(es) still in flight after %.0f s", len(late), timeout_s)
        for uuid_ in list(self._consumers):
            with contextlib.suppress(Exception):
                await self.stop(uuid_)

    async def mark_stopped(self, uuid_: str, reason: str | None) -> None:
        if reason:
            self.subs.stopped[uuid_] = reason
        else:
            self.subs.stopped.pop(uuid_, None)
        await self.store.mark_stopped(uuid_, reason)

    async def resume(self, d: Dueslag) -> None:
        """Resume push delivery of a stopped dueslag."""
        await self.mark_stopped(d.uuid, None)
        await self.stop(d.uuid)
        await self.start(d)

    async def _push(self, d: Dueslag, delivery: Delivery, token: object = None) -> None:
        """Push one message until the receiver answers 20 or delivery stops. One push at a time per dueslag:
        on RabbitMQ the handler of a cancelled consumer may still run when the message it holds is redelivered
        to the next consumer, which must then see what that handler did (its attempts, or that it delivered)."""
        task = asyncio.current_task()
        if task is not None:
            self._active.add(task)
        try:
            async with self._lock[d.uuid]:
                await self._push_locked(d, delivery, token)
        finally:
            self._active.discard(task)

    async def _push_locked(self, d: Dueslag, delivery: Delivery, token: object) -> None:
        def stale() -> bool:  # delivery stopped, shutting down, or this handler's consumer was cancelled
            return (
                d.uuid in self.subs.stopped
                or self._stopping.is_set()
                or (token is not None and self._token.get(d.uuid) is not token)
            )

        async def hand_back() -> None:  # the pause lets a pending cancel land instead of a redelivery loop
            await asyncio.sleep(0.05)
            with contextlib.suppress(Exception):
                await delivery.nack(True)

        if stale():
            await hand_back()
            return
        lev = await self.store.delivery(delivery.besked_id, d.uuid)
        if lev is not None and lev.state in ("delivered", "acked"):
            await delivery.ack()  # a duplicate copy: the receiver already has it
            return
        attempts = lev.attempts if lev is not None else 0
        root = kv.parse_copy(delivery.body)
        pause = float(getattr(d, "pause_s", None) or DEFAULT_PAUSE_S)
        while True:
            if stale():
                await hand_back()
                return
            attempts += 1
            kv.set_forsoeg(root, attempts)
            body = kv.modtag_besked_input(root)
            # recorded (committed) before it is sent: a repeat after a crash or restart counts on from here
            seq = await self.store.begin_attempt(delivery.besked_id, d.uuid, attempts, d.callback or "")
            t0 = time.perf_counter()
            http_status, code, detail = await self._send(d, body)
            ms = (time.perf_counter() - t0) * 1000
            if code == 20 and (http_status in (None, 200)):
                outcome = "leveret"
            elif code == 40:
                outcome = "pause"
            else:
                outcome = "stoppet"
                detail = detail or (f"StatusKode {code}" if code is not None else "no StatusKode in the answer")
            await self.store.end_attempt(
                seq,
                outcome=outcome,
                http_status=http_status,
                statuskode=code,
                detail=detail[:4000],
                duration_ms=ms,
            )
            if outcome != "leveret":
                self.rt.metrics.push_failed(d.uuid)
            if outcome == "leveret":
                await self.store.settle(d.uuid, delivery.besked_id, "delivered", attempts=attempts)
                await delivery.ack()
                return
            await self.store.settle(d.uuid, delivery.besked_id, "queued", attempts=attempts)
            if outcome == "pause":
                self.paused_until[d.uuid] = time.monotonic() + pause
                with contextlib.suppress(TimeoutError):  # shutdown ends the pause (the message is handed back)
                    await asyncio.wait_for(self._stopping.wait(), pause)
                self.paused_until.pop(d.uuid, None)
                pause = min(pause * 2, MAX_PAUSE_S)
                continue
            if stale():  # a cancelled consumer's handler does not stop the one that replaced it
                await hand_back()
                return
            reason = (
                f"delivery of {delivery.besked_id} to {d.callback} stopped after attempt {attempts}: "
                f"StatusKode {code}; {detail}"
                if code is not None
                else f"delivery of {delivery.besked_id} to {d.callback} failed at attempt {attempts}: {detail}"
            )
            await self.mark_stopped(d.uuid, reason)
            await delivery.nack(True)
            asyncio.get_running_loop().create_task(self.stop(d.uuid))
            return

    async def _send(self, d: Dueslag, body: bytes) -> tuple[int | None, int | None, str]:
        """One POST of a ModtagBeskedInput (or the call of a built-in receiver): (HTTP status, StatusKode,
        FejlbeskedTekst or what went wrong)."""
        http_status = code = None
        detail = ""
        try:
            receiver = self.receivers.get(d.callback or "")
            if receiver is not None:
                code, detail = await receiver(body)
            else:
                r = await self.rt.http.post(
                    d.callback,
                    content=body,
                    timeout=self.rt.settings.forward_timeout_s,
                    headers={"content-type": "application/xml; charset=utf-8"},
                )
                http_status = r.status_code
                try:
                    code, detail = kv.read_statuskode(r.content)
                except SoapFaultError as e:
                    code, detail = None, f"the answer is not XML: {e.text}"
                if r.status_code != 200 and code is None:
                    detail = f"HTTP {r.status_code}" + (f": {detail}" if detail else "")
                detail = detail or ""
        except Exception as e:  # noqa: BLE001 - transport errors stop the dueslag
            detail = f"{type(e).__name__}: {e}"
        return http_status, code, detail
