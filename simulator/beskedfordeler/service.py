"""The simulated Beskedfordeler, put together: accept (`accept.py`) → store and distribute (`outbox.py`) →
deliver (`push.py`, `pull.py`), its store (`store.py`), and the operations behind the admin API."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from simulator.beskedfordeler.accept import Acceptor
from simulator.beskedfordeler.answers import SEND_SERVICE, BeskedRefusal, Credentials, Retur, SenderVerifier, refuse
from simulator.beskedfordeler.broker import DIRECT_REPLY_TO, AfsendRequest, Broker, is_direct_reply_to, make_broker
from simulator.beskedfordeler.config import (
    Abonnement,
    Dueslag,
    MessagesConfig,
    Subscriptions,
    check_abonnement,
    check_dueslag,
    read_messages_config,
)
from simulator.beskedfordeler.outbox import Outbox
from simulator.beskedfordeler.pull import Puller
from simulator.beskedfordeler.push import Pusher, Receiver
from simulator.beskedfordeler.store import BeskedStore
from simulator.store.ids import exchange_id
from simulator.traffic.recorder import truncate_body

if TYPE_CHECKING:
    from simulator.runtime import Runtime

log = logging.getLogger(__name__)

STOP_BUDGET_S = 3.0
"""How long stopping the Beskedfordeler may take: a push in flight and the messages being answered."""


class Beskedfordeler:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.cfg: MessagesConfig = read_messages_config(rt.settings.messages_dir, systems=set(rt.routes.systems))
        self.subs = Subscriptions(dict(self.cfg.dueslag), dict(self.cfg.abonnementer))
        self.broker: Broker = make_broker(rt.settings.broker_url)
        self.store = BeskedStore(rt.db)
        self.sender_verifier: SenderVerifier | None = None  # set by simulator.security (docs/security.md)
        self.acceptor = Acceptor(self.cfg, rt.routes, self.subs, max_body_bytes=rt.settings.max_body_bytes)
        self.outbox = Outbox(self.store, self.broker, rt.routes, rt.writer)
        self.pusher = Pusher(rt, self.broker, self.store, self.subs)
        self.puller = Puller(self.broker, self.store)
        self.accepted = 0
        self.refused = 0
        self._depths: asyncio.Task | None = None

    @property
    def dueslag(self) -> dict[str, Dueslag]:
        return self.subs.dueslag

    @property
    def abonnementer(self) -> dict[str, Abonnement]:
        return self.subs.abonnementer

    @property
    def stopped(self) -> dict[str, str]:
        return self.subs.stopped

    # -- life cycle --------------------------------------------------------------------------------------

    async def start(self) -> None:
        loaded = await self.store.sync_config(self.cfg)
        self.subs.dueslag, self.subs.abonnementer = loaded.dueslag, loaded.abonnementer
        self.subs.stopped = loaded.stopped
        await self.broker.start(self._on_amqp_afsend)
        for d in self.dueslag.values():
            await self.broker.declare(d.uuid)
        if self.broker.kind == "in-process":
            await self._restore_in_process()
        self.outbox.start()
        self.puller.start()
        for d in self.dueslag.values():
            await self.pusher.start(d)
        self._depths = asyncio.create_task(self._watch_depths(), name="bf-depths")

    async def stop(self) -> None:
        if self._depths is not None:
            self._depths.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._depths
        # within STOP_BUDGET_S, so that with uvicorn's 3 s for open requests and the writer's bound the process
        # ends within 10 s (docs/reliability.md)
        deadline = time.monotonic() + STOP_BUDGET_S
        await self.pusher.stop_all(timeout_s=STOP_BUDGET_S)  # a push in flight may finish
        await self.puller.stop()
        await self.broker.stop(timeout_s=max(0.5, deadline - time.monotonic()))  # answers what it handles
        await self.outbox.stop()  # the relay; the runtime's writer writes what is queued, within its bound

    async def _restore_in_process(self) -> None:
        for lev, body, received, system, trans in await self.store.waiting_copies():
            copy = self.outbox.render(body.encode(), lev.abonnement, lev.tilladte_modtagere, received, system, trans)
            self.broker.restore(lev.dueslag, lev.besked_id, copy, fejlkoe=lev.state == "fejlkoe")

    async def refresh_depths(self) -> None:
        """Put each dueslag's depth (messages waiting) into the metrics (`simulator_dueslag_depth`)."""
        for uuid_ in list(self.dueslag):
            depth = await self.broker.depth(uuid_)
            if depth.get("klar") is not None:
                self.rt.metrics.dueslag_depth(uuid_, int(depth["klar"]))

    async def _watch_depths(self, every_s: float = 5.0) -> None:
        while True:
            try:
                await self.refresh_depths()
            except Exception as e:  # noqa: BLE001 - a broker hiccup must not end the loop
                log.debug("reading dueslag depths failed: %s", e)
            await asyncio.sleep(every_s)

    # -- built-in receivers (BeskedReceivers) ------------------------------------------------------------

    async def register(self, callback: str, receiver: Receiver) -> None:
        await self.pusher.register(callback, receiver)

    async def unregister(self, callback: str) -> None:
        await self.pusher.unregister(callback)

    # -- sending -----------------------------------------------------------------------------------------

    async def _on_amqp_afsend(self, req: AfsendRequest) -> bytes:
        retur = await self.afsend(
            req.body, req.headers, channel="amqp", correlation_id=req.correlation_id, reply_to=req.reply_to
        )
        return retur.xml()

    async def afsend(
        self,
        body: bytes,
        headers: dict[str, str] | None = None,
        *,
        channel: str = "http",
        correlation_id: str | None = None,
        client_cert: str | None = None,
        reply_to: str | None = None,
    ) -> Retur:
        """Check, persist and answer one sent Haendelsesbesked (AMQP, HTTP or in-process). Over AMQP the
        answer goes back over direct reply-to only: a message naming another `reply_to` is refused (and the
        broker publishes nothing there)."""
        t0 = time.perf_counter()
        headers = {k.lower(): v for k, v in (headers or {}).items()}
        row: dict[str, Any] = {"service": SEND_SERVICE, "operation": "AfsendBesked"}
        try:
            if reply_to and not is_direct_reply_to(reply_to):
                raise refuse(
                    "UGYLDIG_REPLY_TO",
                    f"reply_to '{reply_to[:100]}' is not direct reply-to ({DIRECT_REPLY_TO}); the answer is "
                    "never published anywhere else",
                )
            proven = None
            if self.sender_verifier is not None:  # a security model is on: the credentials name the sender
                proven = await self.sender_verifier(Credentials(headers, channel, client_cert, body))
            retur = await self.outbox.submit(self.acceptor.prepare(body, headers, channel, row, proven))
        except BeskedRefusal as r:
            retur = r.retur
        except Exception as e:  # noqa: BLE001 - answer 50, never crash the consumer
            log.exception("accepting a message failed")
            retur = Retur(50, "INTERN_FEJL", f"{type(e).__name__}: {e}")
        if retur.accepted:
            self.accepted += 1
        else:
            self.refused += 1
        self.rt.metrics.besked_answered(retur.status)
        await self._record(row, body, retur, channel, correlation_id, t0)
        return retur

    async def _record(
        self, row: dict, body: bytes, retur: Retur, channel: str, correlation_id: str | None, t0: float
    ) -> None:
        req, req_cut = truncate_body(body, self.rt.settings.record_body_max_bytes)
        resp, _ = truncate_body(retur.xml(), self.rt.settings.record_body_max_bytes)
        await self.rt.recorder.record(
            {
                "id": exchange_id(),
                "started_at": datetime.now(UTC),
                "duration_ms": (time.perf_counter() - t0) * 1000,
                "origin": channel,
                "session": None,
                "correlation_id": correlation_id,
                "decision": "accepted" if retur.accepted else "refused",
                "reason": retur.fejlbesked or "",
                "violations": None,
                "context": None,
                "provider_ms": None,
                "service": SEND_SERVICE,
                "operation": "AfsendBesked",
                "municipality": None,
                "system_uuid": None,
                "agreement_uuid": None,
                "route_target": "beskedfordeler",
                "callers_call_id": None,
                "status": "ok" if retur.accepted else "fault",
                "fault_code": retur.code,
                "http_status": 200,
                "request_body": req,
                "request_truncated": req_cut,
                "response_body": resp,
                "response_truncated": False,
            }
            | row
        )

    async def wait_distributed(self, timeout: float = 10.0) -> None:
        """Return once nothing accepted is still waiting to reach the broker (tests, bench)."""
        await self.outbox.wait_distributed(timeout)

    # -- HTTP pull ---------------------------------------------------------------------------------------

    async def hent(self, dueslag: str, antal: int, lease_s: float) -> list[dict[str, Any]]:
        return await self.puller.hent(dueslag, antal, lease_s)

    async def kvitter(self, dueslag: str, tags: list[str], *, ack: bool, requeue: bool = True) -> dict[str, list]:
        return await self.puller.kvitter(dueslag, tags, ack=ack, requeue=requeue)

    # -- error queue and admin ---------------------------------------------------------------------------

    async def flyt_til_fejlkoe(self, dueslag: str, besked_id: str | None) -> str | None:
        """Move one message (by BeskedId, or the head of the queue) to the dueslag's error queue."""
        was_push = self.pusher.consuming(dueslag)
        if was_push:
            await self.pusher.stop(dueslag)  # a push consumer may hold the head message
        try:
            moved = await self.broker.to_error(dueslag, besked_id)
        finally:
            d = self.dueslag.get(dueslag)
            if d is not None and (was_push or (d.levering == "push" and dueslag not in self.stopped)):
                await self.pusher.start(d)
        if moved:
            await self.store.settle(dueslag, moved, "fejlkoe")
        return moved

    async def gensend_fra_fejlkoe(self, dueslag: str, besked_id: str | None) -> list[str]:
        moved = await self.broker.from_error(dueslag, besked_id)
        for bid in moved:
            await self.store.settle(dueslag, bid, "queued")
        return moved

    async def as_the_broker_sees_them(self, levs: list[Any]) -> list[Any]:
        """Copies (BfLevering rows) with the state of pulled ones as the broker shows them now: receivers
        pulling over AMQP ack and dead-letter on the broker, unseen by us. A copy still 'queued' that is in
        the error queue becomes 'fejlkoe' (recorded); one no longer on its queue is 'udleveret' (acked, or
        held by a consumer; shown, not recorded, since an unacked one comes back)."""
        pulled = {
            lev.dueslag
            for lev in levs
            if lev.state == "queued" and (d := self.dueslag.get(lev.dueslag)) is not None and d.levering == "pull"
        }
        for dueslag in pulled:
            where = await self.broker.whereabouts(dueslag)
            if where is None:
                continue
            ready, errors = where
            for lev in levs:
                if lev.dueslag != dueslag or lev.state != "queued":
                    continue
                if lev.besked_id in errors:
                    await self.store.settle(dueslag, lev.besked_id, "fejlkoe")
                    lev.state = "fejlkoe"
                elif lev.besked_id not in ready:
                    lev.state = "udleveret"
        return levs

    async def genoptag(self, dueslag: str) -> None:
        """Resume push delivery of a stopped dueslag."""
        await self.pusher.resume(self.dueslag[dueslag])

    async def put_dueslag(self, d: Dueslag) -> Dueslag:
        problem = check_dueslag(d, set(self.rt.routes.systems))
        if problem:
            raise ValueError(problem)
        d.origin = "api"
        await self.store.put_dueslag(d, self.stopped.get(d.uuid))
        await self.pusher.stop(d.uuid)
        self.dueslag[d.uuid] = d
        await self.broker.declare(d.uuid)
        await self.pusher.start(d)
        return d

    async def delete_dueslag(self, uuid_: str) -> bool:
        if any(a.dueslag == uuid_ for a in self.abonnementer.values()):
            raise ValueError("delete the dueslag's abonnementer first")
        await self.pusher.stop(uuid_)
        deleted = await self.store.delete_dueslag(uuid_)
        self.dueslag.pop(uuid_, None)
        return deleted

    async def put_abonnement(self, a: Abonnement) -> Abonnement:
        a.beskedtyper = [self.cfg.beskedtype_uuid(t) or t for t in a.beskedtyper]
        problem = check_abonnement(a, set(self.dueslag))
        if problem:
            raise ValueError(problem)
        a.origin = "api"
        await self.store.put_abonnement(a)
        self.abonnementer[a.uuid] = a
        return a

    async def delete_abonnement(self, uuid_: str) -> bool:
        deleted = await self.store.delete_abonnement(uuid_)
        self.abonnementer.pop(uuid_, None)
        return deleted

    async def health(self) -> dict[str, Any]:
        broker = self.broker.health()
        return {
            "ok": bool(broker["ok"]),
            "broker": broker,
            "accepted": self.accepted,
            "refused": self.refused,
            "relay_error": self.outbox.relay_error,
            "stopped_dueslag": sorted(self.stopped),
        }
