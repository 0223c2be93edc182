"""Sortiment delivery (our stand-in for SF7002 "Overfør Sortiment").

Each subscription (municipality × debtor system) has its own worker. A subscriber that has
acknowledged nothing gets the whole sortiment (``LeveranceType=Fuld``); one that has acknowledged
version *n* gets the Klasser changed after *n* (``Aendring``, ``ForrigeVersion=n``). Every delivery is
a ``SortimentModtag`` call sent *through the platform* by the ``klassifikation`` system (agreement,
route and recording as for any caller), and every attempt is stored with the receiver's receipt.
Only ``Forretningskvittering=ACCEPTERET`` acknowledges a version; anything else (fault, HTTP error,
``AFVIST``) is retried with exponential backoff. A receipt naming a lower version than we assumed
(e.g. a receiver that lost its data) moves the subscriber back, so it catches up from there.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid as uuidlib
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from sqlalchemy import delete, func, select

from simulator.klassifikation.messages import delivery_request, parse_kvittering
from simulator.klassifikation.models import DeliveryRow, SubscriptionRow
from simulator.klassifikation.state import KlassifikationSettings, SortimentState
from simulator.runtime import PlatformCallError
from simulator.soap.envelope import parse_envelope

if TYPE_CHECKING:
    from simulator.runtime import Runtime

log = logging.getLogger(__name__)

SERVICE = "SortimentModtag"
SYSTEM = "klassifikation"
ORIGIN = "klassifikation"
USER_UUID = "00000000-0000-4000-8000-00000000c1a5"  # the "user" the sortiment source acts as


class SubscriptionError(ValueError):
    """A subscription the simulator refuses; the message says why."""


@dataclass
class Subscription:
    municipality: str
    system: str
    active: bool = True
    origin: str = "file"
    acknowledged_version: int | None = None
    acknowledged_at: datetime | None = None
    failures: int = 0
    next_attempt_at: datetime | None = None
    last_error: str | None = None

    @property
    def id(self) -> str:
        return f"{self.municipality}:{self.system}"

    def as_dict(self, current: int) -> dict[str, Any]:
        return {
            "id": self.id,
            "municipality": self.municipality,
            "system": self.system,
            "active": self.active,
            "origin": self.origin,
            "acknowledged_version": self.acknowledged_version,
            "acknowledged_at": self.acknowledged_at.isoformat() if self.acknowledged_at else None,
            "current_version": current,
            "up_to_date": (self.acknowledged_version or 0) >= current,
            "failures": self.failures,
            "last_error": self.last_error,
            "next_attempt_at": self.next_attempt_at.isoformat() if self.next_attempt_at else None,
        }


def _row(s: Subscription) -> SubscriptionRow:
    return SubscriptionRow(
        id=s.id,
        municipality=s.municipality,
        system=s.system,
        active=s.active,
        origin=s.origin,
        acknowledged_version=s.acknowledged_version,
        acknowledged_at=s.acknowledged_at,
        failures=s.failures,
        next_attempt_at=s.next_attempt_at,
        last_error=s.last_error,
    )


def _aware(dt: datetime | None) -> datetime | None:
    return dt.replace(tzinfo=UTC) if dt is not None and dt.tzinfo is None else dt  # SQLite drops the zone


def read_subscription_file(path: Path) -> list[Subscription]:
    if not path.exists():
        return []
    doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    items = doc.get("subscriptions") or []
    if not isinstance(items, list):
        raise SubscriptionError(f"{path}: expected a list under 'subscriptions'")
    out = []
    for i, it in enumerate(items, 1):
        if not isinstance(it, dict) or not it.get("municipality") or not it.get("system"):
            raise SubscriptionError(f"{path}: subscriptions[{i}] needs 'municipality' and 'system'")
        out.append(
            Subscription(
                municipality=str(it["municipality"]), system=str(it["system"]), active=bool(it.get("active", True))
            )
        )
    return out


class Deliverer:
    def __init__(self, rt: Runtime, state: SortimentState, settings: KlassifikationSettings) -> None:
        self.rt = rt
        self.state = state
        self.settings = settings
        self.subscriptions: dict[str, Subscription] = {}
        self._workers: dict[str, tuple[asyncio.Task, asyncio.Event]] = {}
        self._save_lock = asyncio.Lock()
        self.in_flight: set[str] = set()
        self._locks: dict[str, asyncio.Lock] = {}

    # -- subscriptions ---------------------------------------------------------------------------

    def check(self, sub: Subscription) -> None:
        routes = self.rt.routes
        if sub.municipality not in routes.municipalities:
            raise SubscriptionError(f"unknown municipality '{sub.municipality}'")
        system = routes.systems.get(sub.system)
        if system is None:
            raise SubscriptionError(f"unknown system '{sub.system}'")
        if system.kind != "debtor":
            raise SubscriptionError(f"system '{sub.system}' is a {system.kind} system; only debtor systems subscribe")

    def _read_checked(self, path: Path) -> list[Subscription]:
        """The subscription file's entries, each checked against the route table (the first problem raised)."""
        from_file = read_subscription_file(path)
        for sub in from_file:
            try:
                self.check(sub)
            except SubscriptionError as e:
                raise SubscriptionError(f"{path}: {sub.id}: {e}") from None
        return from_file

    async def load(self, path: Path) -> None:
        """Subscriptions from the file (they follow the file) and from the admin API (kept as they are);
        the delivery state of each survives restarts."""
        from_file = self._read_checked(path)
        async with self.rt.db.session() as s, s.begin():
            rows = {r.id: r for r in (await s.scalars(select(SubscriptionRow))).all()}
            wanted = {sub.id for sub in from_file}
            for rid, r in list(rows.items()):
                if r.origin == "file" and rid not in wanted:
                    await s.delete(r)
                    del rows[rid]
            for sub in from_file:
                r = rows.get(sub.id)
                if r is None:
                    r = _row(sub)
                    s.add(r)
                    rows[sub.id] = r
                elif r.origin == "file":
                    r.active = sub.active
        for r in rows.values():
            sub = Subscription(
                municipality=r.municipality,
                system=r.system,
                active=r.active,
                origin=r.origin,
                acknowledged_version=r.acknowledged_version,
                acknowledged_at=_aware(r.acknowledged_at),
                failures=r.failures,
                next_attempt_at=_aware(r.next_attempt_at),
                last_error=r.last_error,
            )
            self.subscriptions[sub.id] = sub

    async def add_from_file(self, path: Path) -> list[str]:
        """Start the subscriptions the file gained since start (e.g. `simulator municipality add`); those
        already running are left as they are. Returns the ids added."""
        from_file = self._read_checked(path)
        added = []
        for sub in from_file:
            if sub.id in self.subscriptions:
                continue
            self.subscriptions[sub.id] = sub
            await self._save(sub)
            self._ensure_worker(sub.id)
            added.append(sub.id)
        return added

    async def put(self, municipality: str, system: str, *, active: bool = True) -> Subscription:
        sub = self.subscriptions.get(f"{municipality}:{system}")
        if sub is None:
            sub = Subscription(municipality=municipality, system=system)
            self.check(sub)
        sub.active, sub.origin = active, "api"
        self.subscriptions[sub.id] = sub
        await self._save(sub)
        self._ensure_worker(sub.id)
        self.wake(sub.id)
        return sub

    async def remove(self, sub_id: str) -> bool:
        sub = self.subscriptions.pop(sub_id, None)
        await self._stop_worker(sub_id)
        async with self.rt.db.session() as s, s.begin():
            await s.execute(delete(SubscriptionRow).where(SubscriptionRow.id == sub_id))
        return sub is not None

    async def resend(self, sub_id: str) -> Subscription:
        """Forget what the subscriber acknowledged: it gets the whole sortiment again, now."""
        sub = self.subscriptions[sub_id]
        sub.acknowledged_version, sub.failures, sub.next_attempt_at = None, 0, None
        await self._save(sub)
        self.wake(sub_id)
        return sub

    async def retry_now(self, sub_id: str) -> tuple[Subscription, DeliveryRow | None]:
        """Deliver what the subscriber lacks now, instead of waiting out the backoff; returns the attempt
        (None when it is up to date or paused)."""
        sub = self.subscriptions[sub_id]
        sub.next_attempt_at = None
        await self._save(sub)
        row = await self._deliver_if_due(sub)
        self.wake(sub_id)
        return sub, row

    async def _deliver_if_due(self, sub: Subscription) -> DeliveryRow | None:
        """One delivery when the subscriber lacks versions and no backoff holds it; one at a time per subscriber
        (the worker and a retry never deliver the same version twice)."""
        async with self._locks.setdefault(sub.id, asyncio.Lock()):
            if not sub.active or (sub.acknowledged_version or 0) >= self.state.current.version:
                return None
            if sub.next_attempt_at is not None and sub.next_attempt_at > datetime.now(UTC):
                return None
            return await self.deliver(sub)

    async def _save(self, sub: Subscription) -> None:
        async with self._save_lock, self.rt.db.session() as s, s.begin():
            await s.merge(_row(sub))

    # -- workers ---------------------------------------------------------------------------------

    def start(self) -> None:
        for sub_id in self.subscriptions:
            self._ensure_worker(sub_id)

    async def stop(self) -> None:
        for sub_id in list(self._workers):
            await self._stop_worker(sub_id)

    def wake(self, sub_id: str | None = None) -> None:
        for wid, (_task, event) in self._workers.items():
            if sub_id is None or wid == sub_id:
                event.set()

    def _ensure_worker(self, sub_id: str) -> None:
        if not self.settings.deliver or sub_id in self._workers:
            return
        event = asyncio.Event()
        task = asyncio.create_task(self._work(sub_id, event), name=f"sortiment-delivery-{sub_id}")
        self._workers[sub_id] = (task, event)

    async def _stop_worker(self, sub_id: str) -> None:
        worker = self._workers.pop(sub_id, None)
        if worker is None:
            return
        worker[0].cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await worker[0]

    async def _work(self, sub_id: str, event: asyncio.Event) -> None:
        while True:
            event.clear()
            sub = self.subscriptions.get(sub_id)
            if sub is None:
                return
            pending = sub.active and (sub.acknowledged_version or 0) < self.state.current.version
            if not pending:
                await event.wait()
                continue
            wait = (sub.next_attempt_at - datetime.now(UTC)).total_seconds() if sub.next_attempt_at else 0
            if wait > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(event.wait(), timeout=wait)
                continue
            try:
                await self._deliver_if_due(sub)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - a worker never dies; the failure is recorded
                log.exception("sortiment delivery to %s failed", sub_id)
                await self._failed(sub, f"internal error: {e!r}")

    # -- one delivery ----------------------------------------------------------------------------

    async def deliver(self, sub: Subscription) -> DeliveryRow:
        current = self.state.current
        acked = sub.acknowledged_version or 0
        forrige = acked if acked else None
        klasser = list(current.klasser.values()) if forrige is None else current.changed_since(acked)
        leverance = str(uuidlib.uuid4())
        row = DeliveryRow(
            id=leverance,
            subscription_id=sub.id,
            municipality=sub.municipality,
            system=sub.system,
            sortiment_uuid=current.sortiment.uuid,
            leverancetype="Fuld" if forrige is None else "Aendring",
            from_version=forrige,
            to_version=current.version,
            klasser=len(klasser),
            attempt=sub.failures + 1,
            started_at=datetime.now(UTC),
            outcome="fejl",
            detail="",
        )
        t0 = time.perf_counter()
        self.in_flight.add(sub.id)
        try:
            await self._send(sub, row, current, klasser, forrige)
        finally:
            self.in_flight.discard(sub.id)
            row.duration_ms = (time.perf_counter() - t0) * 1000
            async with self.rt.db.session() as s, s.begin():
                s.add(row)
        if row.outcome == "accepteret":
            behind = (row.kvittering_version or 0) < current.version  # the receiver says it holds less: go on
            acked = replace(
                sub,
                acknowledged_version=row.kvittering_version,
                acknowledged_at=datetime.now(UTC),
                failures=0,
                next_attempt_at=None,
                last_error=f"receipt acknowledges version {row.kvittering_version}, not {current.version}"
                if behind
                else None,
            )
            await self._save(acked)  # stored before anyone (the admin API, readiness) is told
            sub.__dict__.update(acked.__dict__)
        else:
            await self._failed(sub, row.detail)
        return row

    async def _send(self, sub: Subscription, row: DeliveryRow, current, klasser, forrige: int | None) -> None:
        request = delivery_request(
            leverance_uuid=row.id,
            current=current,
            klasser=klasser,
            histories={k.uuid: self.state.history(k.uuid) for k in klasser},
            forrige_version=forrige,
        )
        try:
            response = await self.rt.call_as(
                SYSTEM, sub.municipality, SERVICE, request, origin=ORIGIN, user_uuid=USER_UUID, call_id=row.id
            )
        except PlatformCallError as e:
            row.detail = str(e)
            return
        row.exchange_id, row.http_status, row.fault_code = response.exchange_id, response.status, response.fault_code
        if not response.ok:
            row.detail = f"HTTP {response.status}" + (f", fault {response.fault_code}" if response.fault_code else "")
            text = _fault_text(response.body)
            if text and response.fault_code:
                text = text.removeprefix(f"{response.fault_code}: ")
            if text:
                row.detail += f": {text}"
            return
        try:
            kv = parse_kvittering(parse_envelope(response.body).payload)
        except Exception:  # noqa: BLE001 - an unreadable answer is a failed delivery
            kv = None
        if kv is None:
            row.detail = "the receiver's answer is not a SortimentModtagResponse with a Kvittering"
            return
        row.kvittering, row.kvittering_version, row.detail = kv.kvittering.status, kv.version, kv.describe()
        if kv.kvittering.status == "ACCEPTERET":
            row.outcome = "accepteret"
        else:
            row.outcome = "afvist"
            if kv.version < (sub.acknowledged_version or 0):  # the receiver holds less than we thought
                sub.acknowledged_version = kv.version or None

    async def _failed(self, sub: Subscription, detail: str) -> None:
        sub.failures += 1
        sub.last_error = detail
        sub.next_attempt_at = datetime.now(UTC) + timedelta(seconds=self.settings.backoff(sub.failures))
        await self._save(sub)

    # -- reading the record ----------------------------------------------------------------------

    async def deliveries(self, *, subscription: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        async with self.rt.db.session() as s:
            q = select(DeliveryRow).order_by(DeliveryRow.started_at.desc()).limit(limit)
            if subscription:
                q = q.where(DeliveryRow.subscription_id == subscription)
            rows = (await s.scalars(q)).all()
        return [delivery_dict(r) for r in rows]

    async def count(self, subscription: str | None = None) -> int:
        async with self.rt.db.session() as s:
            q = select(func.count()).select_from(DeliveryRow)
            if subscription:
                q = q.where(DeliveryRow.subscription_id == subscription)
            return int(await s.scalar(q) or 0)


def _fault_text(body: bytes) -> str | None:
    try:
        env = parse_envelope(body)
    except Exception:  # noqa: BLE001
        return body[:200].decode("utf-8", "replace") if body else None
    if env.payload is None:
        return None
    text = env.payload.findtext("faultstring")
    return text.strip() if text else None


def delivery_dict(r: DeliveryRow) -> dict[str, Any]:
    return {
        "leverance_uuid": r.id,
        "subscription": r.subscription_id,
        "municipality": r.municipality,
        "system": r.system,
        "leverancetype": r.leverancetype,
        "from_version": r.from_version,
        "to_version": r.to_version,
        "klasser": r.klasser,
        "attempt": r.attempt,
        "started_at": _aware(r.started_at).isoformat(),
        "duration_ms": r.duration_ms,
        "outcome": r.outcome,
        "exchange_id": r.exchange_id,
        "http_status": r.http_status,
        "fault_code": r.fault_code,
        "kvittering": r.kvittering,
        "kvittering_version": r.kvittering_version,
        "detail": r.detail,
    }
