"""The simulated Beskedfordeler: accept (check, persist, answer), distribute (outbox relay to the
broker), deliver (push workers and the simulated KY), and the operations behind the admin API."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import inspect
import logging
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from lxml import etree
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from simulator.beskedfordeler import kuvert as kv
from simulator.beskedfordeler.broker import AfsendRequest, Broker, BrokerUnavailable, Delivery, make_broker
from simulator.beskedfordeler.config import (
    Abonnement,
    Dueslag,
    MessagesConfig,
    check_abonnement,
    check_dueslag,
    read_messages_config,
)
from simulator.beskedfordeler.models import BfAbonnement, BfBesked, BfDueslag, BfForsoeg, BfKyModtaget, BfLevering
from simulator.capabilities import StatusChangeSink
from simulator.soap.errors import SoapFaultError

if TYPE_CHECKING:
    from simulator.runtime import Runtime

log = logging.getLogger(__name__)

FORDELINGSSYSTEM = "256e1a88-396f-43fc-8353-a35f5cfd49b9"
"""UUID the simulated Beskedfordeler puts in Leverancerute/Fordelingssystem."""

SEND_SERVICE = "BeskedAfsend"
RECEIVE_SERVICE = "BeskedModtag"
HEADER_SYSTEM = "x-simulator-system"
HEADER_MUNICIPALITY = "x-simulator-municipality"
DEFAULT_PAUSE_S = 5.0
MAX_PAUSE_S = 300.0


# -- answers ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Retur:
    """The StandardRetur a sender gets: StatusKode, and for refusals a stable code and a text."""

    status: int
    code: str | None = None
    text: str | None = None
    besked_id: str | None = None

    @property
    def accepted(self) -> bool:
        return self.status == 20

    @property
    def fejlbesked(self) -> str | None:
        return f"{self.code}: {self.text}" if self.code else None

    def xml(self) -> bytes:
        if self.code is None:  # 20 (and any code without a text): the same bytes every time
            return _plain_retur(self.status)
        return kv.standard_retur(self.status, self.fejlbesked)


@functools.lru_cache(maxsize=16)
def _plain_retur(status: int) -> bytes:
    return kv.standard_retur(status, None)


class Refusal(Exception):
    def __init__(self, status: int, code: str, text: str) -> None:
        super().__init__(text)
        self.retur = Retur(status, code, text)


RETUR_CODES: dict[str, tuple[int, str]] = {
    "UGYLDIG_XML": (40, "the body is not well-formed UTF-8 XML (or holds a DTD/entities)"),
    "UGYLDIG_KUVERT": (40, "the Haendelsesbesked does not follow Beskedkuvert.xsd (the text names the element)"),
    "UGYLDIG_BESKEDDATA": (40, "the Beskeddata does not follow the schema of its beskedtype"),
    "MANGLER_MYNDIGHED": (40, "no ObjektAnsvarligMyndighed (urn:oio:cvr-nr:…) and no sending municipality"),
    "BESKEDID_GENBRUGT": (40, "the BeskedId was already used for a different message"),
    "TOKEN_UDLOEBET": (41, "the token has expired (token verification)"),
    "UKENDT_AFSENDER": (43, "the sending system cannot be identified"),
    "FORKERT_AFSENDER": (43, f"header {HEADER_SYSTEM} names another system than the token or client certificate"),
    "FORKERT_MYNDIGHED": (43, "ObjektAnsvarligMyndighed differs from the sending municipality"),
    "INGEN_AFTALE": (43, "no BeskedAfsend agreement for system × municipality × beskedtype"),
    "INTERN_FEJL": (50, "the message could not be stored; nothing was accepted, send it again"),
}
"""Every refusal: code → (StatusKode, meaning). FejlbeskedTekst is '<code>: <what was wrong>'."""


def _refuse(code: str, text: str) -> Refusal:
    return Refusal(RETUR_CODES[code][0], code, text)


@dataclass(frozen=True)
class Credentials:
    """What a request carries to prove which system sends (or pulls): its headers (lower-case names, e.g.
    `token`, `token-signature`), the TLS client certificate when one was presented, and the bytes a
    signature by the token's key must cover (a publish: the message body)."""

    headers: dict[str, str]
    channel: str  # amqp | http
    client_cert: str | None = None
    signed: bytes = b""


@dataclass(frozen=True)
class Proven:
    """Who the credentials prove: the system key, and the municipality CVR when a token names one."""

    system: str
    municipality: str | None
    model: str  # token | certificate


SenderVerifier = Callable[[Credentials], Awaitable[Proven]]
"""Set by simulator.security when a security model is on; raises Refusal (e.g. 41 token expired)."""


# -- accepting -------------------------------------------------------------------------------------------


@dataclass
class _Prepared:
    besked: kv.Besked
    body: bytes
    sha256: str
    channel: str
    system: str
    system_uuid: str
    municipality: str
    transaktions_id: str
    copies: list[tuple[str, str, list[str] | None]]  # (dueslag, abonnement, trimmed TilladtModtager)
    future: asyncio.Future


class Beskedfordeler:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.cfg: MessagesConfig = read_messages_config(rt.settings.messages_dir, systems=set(rt.routes.systems))
        self.dueslag: dict[str, Dueslag] = dict(self.cfg.dueslag)
        self.abonnementer: dict[str, Abonnement] = dict(self.cfg.abonnementer)
        self.stopped: dict[str, str] = {}  # push dueslag → why delivery stopped
        self.paused_until: dict[str, float] = {}
        self.broker: Broker = make_broker(rt.settings.broker_url)
        self.sender_verifier: SenderVerifier | None = None  # set by simulator.security (docs/security.md)
        self._incoming: asyncio.Queue[_Prepared] = asyncio.Queue(maxsize=20_000)
        self._relay_wake = asyncio.Event()
        # the fast path: messages just stored go to the relay in memory (parsed), in the order they were
        # stored; their copies are published without reading them back. `_fast_keys` are the
        # (BeskedId, dueslag) copies it owns, so the database pass (`_relay_once`) leaves them alone
        self._fast: deque[tuple[_Prepared, datetime]] = deque()
        self._fast_keys: set[tuple[str, str]] = set()
        self._fast_on = False  # off until the database pass found nothing pending (start, broker trouble)
        self._fast_epoch = 0  # counts the times the fast path was switched off (its claims dropped)
        self._tasks: list[asyncio.Task] = []
        self._consumers: dict[str, Callable[[], Awaitable[None]]] = {}
        self._push_token: dict[str, object] = {}  # push dueslag → its current consumer (older handlers give up)
        self._push_lock: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)  # one push at a time per dueslag
        self._reconcile = True  # at start: a crash may have left published-but-unmarked copies
        self.relay_error: str | None = None
        self.accepted = 0
        self.refused = 0
        self.leases: dict[str, tuple[Delivery, float]] = {}
        self._types_cache: dict[tuple[str, ...], frozenset[str]] = {}

    # -- life cycle --------------------------------------------------------------------------------------

    async def start(self) -> None:
        await self._sync_config()
        await self.broker.start(self._on_amqp_afsend)
        for d in self.dueslag.values():
            await self.broker.declare(d.uuid)
        if self.broker.kind == "in-process":
            await self._restore_in_process()
        self._tasks = [
            asyncio.create_task(self._writer(), name="bf-writer"),
            asyncio.create_task(self._relay(), name="bf-relay"),
            asyncio.create_task(self._lease_sweeper(), name="bf-leases"),
        ]
        for d in self.dueslag.values():
            await self._start_push(d)

    async def stop(self) -> None:
        for cancel in list(self._consumers.values()):
            with contextlib.suppress(Exception):
                await cancel()
        self._consumers.clear()
        for d, _ in list(self.leases.values()):
            with contextlib.suppress(Exception):
                await d.nack(True)
        self.leases.clear()
        await self.broker.stop()  # answers what it is handling, then closes
        # let what was accepted reach the database before stopping
        deadline = time.monotonic() + 30
        while not self._incoming.empty() and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t

    async def _sync_config(self) -> None:
        """Seed dueslag/abonnementer from the files; API-made ones are kept (like routes)."""
        async with self.rt.db.session() as s, s.begin():
            api_d = {r.uuid: r for r in await s.scalars(select(BfDueslag))}
            api_a = {r.uuid: r for r in await s.scalars(select(BfAbonnement))}
            for row in api_d.values():
                if row.origin == "file" and row.uuid not in self.cfg.dueslag:
                    await s.delete(row)
            for row in api_a.values():
                if row.origin == "file" and row.uuid not in self.cfg.abonnementer:
                    await s.delete(row)
            for d in self.cfg.dueslag.values():
                row = api_d.get(d.uuid)
                if row is None:
                    s.add(BfDueslag(uuid=d.uuid, data=d.out(), origin="file"))
                elif row.origin == "file":
                    row.data = d.out()
            for a in self.cfg.abonnementer.values():
                row = api_a.get(a.uuid)
                if row is None:
                    s.add(BfAbonnement(uuid=a.uuid, data=a.out(), origin="file"))
                elif row.origin == "file":
                    row.data = a.out()
        async with self.rt.db.session() as s:
            self.dueslag = {r.uuid: Dueslag(**r.data) for r in await s.scalars(select(BfDueslag))}
            self.stopped = {r.uuid: r.stopped for r in await s.scalars(select(BfDueslag)) if r.stopped}
            self.abonnementer = {r.uuid: Abonnement(**r.data) for r in await s.scalars(select(BfAbonnement))}

    async def _restore_in_process(self) -> None:
        async with self.rt.db.session() as s:
            rows = (
                await s.execute(
                    select(BfLevering, BfBesked.body, BfBesked.received_at, BfBesked.system, BfBesked.transaktions_id)
                    .join(BfBesked, BfBesked.besked_id == BfLevering.besked_id)
                    .where(BfLevering.state.in_(("queued", "fejlkoe")))
                    .order_by(BfLevering.seq)
                )
            ).all()
        for lev, body, received, system, trans in rows:
            copy = self._render(body.encode(), lev.abonnement, lev.tilladte_modtagere, received, system, trans)
            self.broker.restore(lev.dueslag, lev.besked_id, copy, fejlkoe=lev.state == "fejlkoe")

    # -- sending -----------------------------------------------------------------------------------------

    async def _on_amqp_afsend(self, req: AfsendRequest) -> bytes:
        retur = await self.afsend(req.body, req.headers, channel="amqp", correlation_id=req.correlation_id)
        return retur.xml()

    async def afsend(
        self,
        body: bytes,
        headers: dict[str, str] | None = None,
        *,
        channel: str = "http",
        correlation_id: str | None = None,
        client_cert: str | None = None,
    ) -> Retur:
        """Check, persist and answer one sent Haendelsesbesked (AMQP, HTTP or in-process)."""
        t0 = time.perf_counter()
        headers = {k.lower(): v for k, v in (headers or {}).items()}
        row: dict[str, Any] = {"service": SEND_SERVICE, "operation": "AfsendBesked"}
        try:
            proven = None
            if self.sender_verifier is not None:  # a security model is on: the credentials name the sender
                proven = await self.sender_verifier(Credentials(headers, channel, client_cert, body))
            prepared = await self._prepare(body, headers, channel, row, proven)
            self._incoming.put_nowait(prepared) if not self._incoming.full() else await self._incoming.put(prepared)
            retur = await prepared.future
        except Refusal as r:
            retur = r.retur
        except Exception as e:  # noqa: BLE001 - answer 50, never crash the consumer
            log.exception("accepting a message failed")
            retur = Retur(50, "INTERN_FEJL", f"{type(e).__name__}: {e}")
        if retur.accepted:
            self.accepted += 1
        else:
            self.refused += 1
        await self._record(row, body, retur, channel, correlation_id, t0)
        return retur

    async def _prepare(
        self, body: bytes, headers: dict[str, str], channel: str, row: dict, proven: Proven | None
    ) -> _Prepared:
        from simulator.soap.envelope import parse_xml

        try:
            root = parse_xml(body, max_bytes=self.rt.settings.max_body_bytes)
        except SoapFaultError as e:
            raise _refuse("UGYLDIG_XML", e.text) from None
        try:
            kv.check_structure(root)
        except kv.KuvertError as e:
            raise _refuse("UGYLDIG_KUVERT", str(e)) from None
        besked = kv.read_besked(root)
        row["callers_call_id"] = besked.besked_id

        system = self._identify(headers.get(HEADER_SYSTEM), besked, proven)
        row["system_uuid"] = system.uuid

        named = {r.myndighed for r in besked.registreringer if r.myndighed}
        cvrs = {kv.cvr_of(m) for m in named}
        if None in cvrs:
            bad = next(m for m in named if kv.cvr_of(m) is None)
            raise _refuse("MANGLER_MYNDIGHED", f"ObjektAnsvarligMyndighed '{bad}' is not urn:oio:cvr-nr:<8 digits>")
        if len(cvrs) > 1:
            raise _refuse(
                "FORKERT_MYNDIGHED",
                f"the ObjektRegistrering elements name different authorities "
                f"({', '.join(sorted(named))}); a message is sent for one",
            )
        sending = headers.get(HEADER_MUNICIPALITY)
        if proven is not None and proven.municipality:
            if sending and sending != proven.municipality:
                raise _refuse(
                    "FORKERT_MYNDIGHED",
                    f"header {HEADER_MUNICIPALITY} names municipality {sending}, but the token is issued for "
                    f"{proven.municipality}",
                )
            sending = proven.municipality
        municipality = next(iter(cvrs)) if cvrs else sending
        if not municipality:
            raise _refuse(
                "MANGLER_MYNDIGHED",
                "ObjektRegistrering/ObjektAnsvarligMyndighed is missing, so the "
                "sending municipality is unknown (or send header "
                f"{HEADER_MUNICIPALITY})",
            )
        if sending and sending != municipality:
            raise _refuse(
                "FORKERT_MYNDIGHED",
                f"ObjektAnsvarligMyndighed is urn:oio:cvr-nr:{municipality} but the "
                f"message is sent on behalf of municipality {sending}",
            )
        row["municipality"] = municipality

        agreement = self._send_agreement(system.key, municipality, besked.beskedtype)
        if agreement is None:
            bt = self.cfg.beskedtyper.get(besked.beskedtype)
            raise _refuse(
                "INGEN_AFTALE",
                f"system '{system.key}' ({system.uuid}) has no {SEND_SERVICE} agreement "
                f"for municipality {municipality} and beskedtype {besked.beskedtype}" + (f" ({bt.name})" if bt else ""),
            )
        row["agreement_uuid"] = agreement

        self._check_beskeddata(besked)
        sha = hashlib.sha256(body).hexdigest()
        trans = besked.transaktions_id or str(uuid.uuid4())
        return _Prepared(
            besked=besked,
            body=body,
            sha256=sha,
            channel=channel,
            system=system.key,
            system_uuid=system.uuid,
            municipality=municipality,
            transaktions_id=trans,
            copies=self.match(besked, system.key, municipality),
            future=asyncio.get_running_loop().create_future(),
        )

    def _identify(self, named: str | None, besked: kv.Besked, proven: Proven | None = None):
        """The sending system: the one the token or client certificate proves (a header naming another is
        refused); without a security model, header x-simulator-system, else Kildesystem/BeskedAnsvarligAktoer."""
        systems = self.rt.routes.systems
        by_uuid = self.rt.routes.systems_by_uuid
        if proven is not None:
            system = systems[proven.system]
            if named and named != system.key and named.lower() != system.uuid:
                raise _refuse(
                    "FORKERT_AFSENDER",
                    f"header {HEADER_SYSTEM} names '{named}', but the {proven.model} identifies system "
                    f"'{system.key}' ({system.uuid}); the sender is always the {proven.model}'s system",
                )
            return system
        if named:
            system = systems.get(named) or by_uuid.get(named.lower())
            if system is None:
                raise _refuse("UKENDT_AFSENDER", f"{HEADER_SYSTEM} '{named}' is not a system of the route table")
            return system
        for candidate in (besked.kildesystem, besked.besked_ansvarlig):
            if candidate and candidate in by_uuid:
                return by_uuid[candidate]
        raise _refuse(
            "UKENDT_AFSENDER",
            "the sending system is unknown: set header "
            f"{HEADER_SYSTEM} (system key or UUID), or put a known system UUID in "
            "Leveranceinformation/Kildesystem or Filtreringsdata/BeskedAnsvarligAktoer",
        )

    def _agreements(self, service: str, system: str, municipality: str, beskedtype: str) -> str | None:
        for a in self.rt.routes.agreements_for(system, municipality, service):
            types = self._agreement_types(a)
            if beskedtype in types or "*" in types:
                return a.uuid
        return None

    def _agreement_types(self, a) -> frozenset[str]:
        """The beskedtype UUIDs an agreement covers ("*" = any), worked out once per list of beskedtyper
        (the beskedtyper catalogue is read once, at start)."""
        listed = tuple(a.beskedtyper or ())
        types = self._types_cache.get(listed)
        if types is None:
            types = self._types_cache[listed] = frozenset(self.cfg.beskedtype_uuid(t) or t for t in listed)
        return types

    def _send_agreement(self, system: str, municipality: str, beskedtype: str) -> str | None:
        return self._agreements(SEND_SERVICE, system, municipality, beskedtype)

    def _check_beskeddata(self, besked: kv.Besked) -> None:
        bt = self.cfg.beskedtyper.get(besked.beskedtype)
        if bt is None or bt.xmlschema is None:
            return
        if not besked.beskeddata:
            raise _refuse("UGYLDIG_BESKEDDATA", f"a {bt.name} message must carry Beskeddata ({bt.namespace})")
        for data in besked.beskeddata:
            try:
                payload = kv.beskeddata_payload(data)
            except (SoapFaultError, ValueError) as e:
                raise _refuse("UGYLDIG_BESKEDDATA", f"Beskeddata cannot be read: {e}") from None
            if payload is None:
                raise _refuse("UGYLDIG_BESKEDDATA", f"Beskeddata is empty; expected {{{bt.namespace}}}{bt.name}")
            schema = bt.xmlschema
            if not schema.validate(payload):  # in place (lxml validates a subtree without copying it)
                err = schema.error_log.last_error
                raise _refuse(
                    "UGYLDIG_BESKEDDATA", f"Beskeddata does not follow {bt.schema.name}: line {err.line}: {err.message}"
                )

    # -- distribution rules ------------------------------------------------------------------------------

    def match(self, besked: kv.Besked, sender: str, municipality: str) -> list[tuple[str, str, list[str] | None]]:
        """(dueslag, abonnement, trimmed TilladtModtager or None) for every dueslag the message goes to."""
        out: dict[str, tuple[str, str, list[str] | None]] = {}
        for a in self.abonnementer.values():
            if a.dueslag in out or besked.beskedtype not in a.beskedtyper:
                continue
            d = self.dueslag.get(a.dueslag)
            if d is None or not self._passes(a, besked, sender):
                continue
            allowed = {m for m in self._receiver_authorities(d.system, besked.beskedtype)}
            if besked.tilladte_modtagere:
                keep = [t for t in besked.tilladte_modtagere if kv.cvr_of(t) in allowed or "*" in allowed]
                if not keep:
                    continue
                out[a.dueslag] = (a.dueslag, a.uuid, keep)
            elif municipality in allowed or "*" in allowed:
                out[a.dueslag] = (a.dueslag, a.uuid, None)
        return list(out.values())

    def _receiver_authorities(self, system: str, beskedtype: str) -> set[str]:
        found = set()
        for a in self.rt.routes.agreements.values():
            if a.system == system and a.service == RECEIVE_SERVICE and a.active:
                types = self._agreement_types(a)
                if beskedtype in types or "*" in types:
                    found.add(a.municipality)
        return found

    def _passes(self, a: Abonnement, b: kv.Besked, sender: str) -> bool:
        f = a.filtre
        if "afsender" in f:
            sender_uuid = self.rt.routes.systems[sender].uuid
            if not (
                {sender, sender_uuid, b.besked_ansvarlig} & {v.lower() if len(v) == 36 else v for v in f["afsender"]}
            ):
                return False
        if "tilladt_modtager" in f:
            cvrs = {kv.cvr_of(t) for t in b.tilladte_modtagere}
            if not cvrs & set(f["tilladt_modtager"]):
                return False
        for key, values in (
            ("objekttype", [r.objekttype for r in b.registreringer] + [t for _, t in b.relaterede_objekter]),
            ("objekthandling", [r.objekthandling for r in b.registreringer]),
            ("opgaveemne", [r.opgaveemne for r in b.registreringer]),
        ):
            if key in f and not {v for v in values if v} & {x.lower() if key != "opgaveemne" else x for x in f[key]}:
                return False
        if "vaerdiliste" in f:
            numbers = {kv.number_of(o) for o in b.objekt_ids} - {None}
            if not numbers & set(f["vaerdiliste"]):
                return False
        return True

    # -- persistence (batched) ---------------------------------------------------------------------------

    async def _writer(self) -> None:
        while True:
            batch = [await self._incoming.get()]
            while len(batch) < 500 and not self._incoming.empty():
                batch.append(self._incoming.get_nowait())
            fast, epoch = self._fast_on, self._fast_epoch
            keys = [(p.besked.besked_id, d) for p in batch for d, _, _ in p.copies] if fast else []
            # claimed before the commit: once the rows are visible the database pass must leave them alone
            self._fast_keys.update(keys)
            stored: list[_Prepared] = []
            now = datetime.now(UTC)
            try:
                try:
                    stored = await self._persist(batch, now)
                except IntegrityError:
                    # SQLite: another process stored one of these BeskedIds a moment ago; once more, and it is a
                    # repeat (PostgreSQL inserts ON CONFLICT DO NOTHING and needs no second try)
                    stored = await self._persist(batch, now)
            except Exception as e:  # noqa: BLE001 - answer 50: nothing of the batch was accepted
                log.exception("persisting %d messages failed", len(batch))
                for p in batch:
                    if not p.future.done():
                        p.future.set_result(Retur(50, "INTERN_FEJL", f"storing the message failed: {e}"))
            if fast and self._fast_on and self._fast_epoch == epoch:  # claimed all along: the fast path has them
                mine = {(p.besked.besked_id, d) for p in stored for d, _, _ in p.copies}
                self._fast_keys.difference_update(k for k in keys if k not in mine)
                self._fast.extend((p, now) for p in stored if p.copies)
            else:
                self._fast_keys.difference_update(keys)
            self._relay_wake.set()

    async def _persist(self, batch: list[_Prepared], now: datetime) -> list[_Prepared]:
        """Store a batch in one transaction (one worker-thread hop on SQLite, Database.transaction), then
        answer each message: 20 when stored (or a repeat of a stored one), 40 for a reused BeskedId.
        Returns the messages stored now (not the repeats)."""
        results = await self.rt.db.transaction(functools.partial(self._persist_in, batch=batch, now=now))
        stored = []
        for p, r, new in results:
            if new:
                stored.append(p)
            if not p.future.done():
                p.future.set_result(r)
        return stored

    def _persist_in(self, s, *, batch: list[_Prepared], now: datetime) -> list[tuple[_Prepared, Retur, bool]]:
        ids = list({p.besked.besked_id for p in batch})
        raw = s.dialect.name == "sqlite"
        if raw:  # see _insert_raw
            known = dict(
                s.exec_driver_sql(
                    f"SELECT besked_id, sha256 FROM bf_besked WHERE besked_id IN ({', '.join('?' * len(ids))})",
                    tuple(ids),
                ).all()
            )
        else:
            known = dict(
                s.execute(select(BfBesked.besked_id, BfBesked.sha256).where(BfBesked.besked_id.in_(ids))).all()
            )
        results: list[tuple[_Prepared, Retur, bool]] = []
        besked_rows: list[tuple] = []  # in _BESKED_COLUMNS order
        levering_rows: list[tuple] = []  # in _LEVERING_COLUMNS order
        for p in batch:
            bid = p.besked.besked_id
            if bid in known:
                results.append((p, _repeat_or_clash(bid, known[bid], p.sha256), False))
                continue
            known[bid] = p.sha256
            besked_rows.append(
                (
                    bid,
                    now,
                    p.channel,
                    p.system,
                    p.municipality,
                    p.besked.beskedtype,
                    p.transaktions_id,
                    p.sha256,
                    p.body.decode("utf-8"),
                )
            )
            levering_rows += [(bid, d, abonnement, "pending", trimmed, 0, now) for d, abonnement, trimmed in p.copies]
            results.append((p, Retur(20, besked_id=bid), True))
        if raw:
            for table, columns, rows in (
                (BfBesked.__table__, _BESKED_COLUMNS, besked_rows),
                (BfLevering.__table__, _LEVERING_COLUMNS, levering_rows),
            ):
                if rows:
                    _insert_raw(s, table, columns, rows)
            return results
        lost = _insert_new_beskeder(s, besked_rows)
        if lost:  # another process stored these BeskedIds a moment ago: each is a repeat (or a reused id) here
            besked_t = BfBesked.__table__
            theirs = dict(
                s.execute(select(besked_t.c.besked_id, besked_t.c.sha256).where(besked_t.c.besked_id.in_(lost))).all()
            )
            results = [
                (p, _repeat_or_clash(p.besked.besked_id, theirs[p.besked.besked_id], p.sha256), False)
                if p.besked.besked_id in lost
                else (p, r, new)
                for p, r, new in results
            ]
            levering_rows = [row for row in levering_rows if row[0] not in lost]
        if levering_rows:
            s.execute(
                insert(BfLevering.__table__), [dict(zip(_LEVERING_COLUMNS, row, strict=True)) for row in levering_rows]
            )
        return results

    async def _record(
        self, row: dict, body: bytes, retur: Retur, channel: str, correlation_id: str | None, t0: float
    ) -> None:
        from simulator.traffic.recorder import truncate_body

        req, req_cut = truncate_body(body, self.rt.settings.record_body_max_bytes)
        resp, _ = truncate_body(retur.xml(), self.rt.settings.record_body_max_bytes)
        await self.rt.recorder.record(
            {
                "id": str(uuid.uuid4()),
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

    # -- relay: pending copies → broker ------------------------------------------------------------------

    def _render(
        self,
        original: bytes | etree._Element,
        abonnement: str,
        tilladte_modtagere: list[str] | None,
        received: datetime,
        system: str,
        transaktions_id: str,
        forsoeg: int = 1,
        *,
        in_place: bool = False,
    ) -> bytes:
        """The delivered copy of a message for one dueslag (its abonnement, TilladtModtager trimmed to
        `tilladte_modtagere`). `in_place` changes the parsed original itself (its last use) instead of a copy."""
        sys_def = self.rt.routes.systems.get(system)
        root = kv.delivered_copy(
            original,
            kv.Leverance(
                abonnement=abonnement,
                fordelingssystem=FORDELINGSSYSTEM,
                modtaget_fra=sys_def.uuid if sys_def else None,
                modtaget=_aware(received),
                leveret=datetime.now(UTC),
                forsoeg=forsoeg,
                transaktions_id=transaktions_id,
                kildesystem=sys_def.uuid if sys_def else None,
                tilladte_modtagere=tilladte_modtagere,
            ),
            in_place=in_place,
        )
        return etree.tostring(root, xml_declaration=True, encoding="utf-8", standalone=True)

    async def _relay(self) -> None:
        """Publish what was stored: the fast path (from memory) while all is well; the database pass at
        start, after trouble (until nothing is pending) and once a second (copies of other processes)."""
        delay = 0.1
        next_pass = 0.0
        while True:
            try:
                if self._fast:
                    await self._relay_fast()
                    delay = 0.1
                    continue
                if not self._fast_on or time.monotonic() >= next_pass:
                    moved = await self._relay_once()
                    self.relay_error = None
                    delay = 0.1
                    if moved:
                        continue
                    next_pass = time.monotonic() + 1.0
                    if not self._fast_on and not self._reconcile:
                        self._fast_on = True  # nothing of ours is pending any more: new messages go the fast way
                    if self._fast:
                        continue
                self._relay_wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._relay_wake.wait(), timeout=max(0.01, next_pass - time.monotonic()))
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - keep the rows pending and try again
                self.relay_error = f"{type(e).__name__}: {e}"
                self._reconcile = True
                self._fast_off()
                log.warning("distributing failed (%s); retrying in %.1fs", e, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    def _fast_off(self) -> None:
        """Leave every copy not yet published to the database pass (rows pending, in order)."""
        self._fast_on = False
        self._fast_epoch += 1
        self._fast.clear()
        self._fast_keys.clear()

    async def _relay_fast(self, limit: int = 500) -> None:
        """Publish the copies of messages just stored, from memory (rendered from the parsed message, no
        read-back), then mark them queued. On PostgreSQL the rows are first locked (`FOR UPDATE SKIP
        LOCKED`, still pending), so a process sharing the database never publishes the same copy twice."""
        items: list[tuple[_Prepared, datetime]] = []
        n = 0
        while self._fast and n < limit:
            p, received = self._fast.popleft()
            items.append((p, received))
            n += len(p.copies)
        keys = [(p.besked.besked_id, c[0]) for p, _ in items for c in p.copies]
        try:
            if self.rt.db.dialect == "postgresql":
                async with self.rt.db.session() as s, s.begin():
                    lev_t = BfLevering.__table__
                    held = set(
                        (
                            await s.execute(
                                select(lev_t.c.besked_id, lev_t.c.dueslag)
                                .where(
                                    lev_t.c.besked_id.in_({bid for bid, _ in keys}),
                                    lev_t.c.state == "pending",
                                )
                                .with_for_update(skip_locked=True, of=lev_t)
                            )
                        ).all()
                    )
                    published = await self._publish_fast(items, held)
                    for stmt in _mark_queued_statements(published):
                        await s.execute(stmt)
            else:
                published = await self._publish_fast(items, None)
                await self.rt.db.transaction(functools.partial(_mark_queued, keys=published))
        finally:
            self._fast_keys.difference_update(keys)
        self.relay_error = None

    async def _publish_fast(
        self, items: list[tuple[_Prepared, datetime]], held: set[tuple[str, str]] | None
    ) -> list[tuple[str, str]]:
        by_dueslag: dict[str, list[tuple[str, bytes]]] = defaultdict(list)
        for p, received in items:
            bid = p.besked.besked_id
            last = len(p.copies) - 1
            for i, (dueslag, abonnement, trimmed) in enumerate(p.copies):
                if held is not None and (bid, dueslag) not in held:
                    continue  # another process has it (or had it)
                body = self._render(
                    p.besked.root, abonnement, trimmed, received, p.system, p.transaktions_id, in_place=i == last
                )
                by_dueslag[dueslag].append((bid, body))
        try:
            await asyncio.gather(*(self.broker.publish(d, items) for d, items in by_dueslag.items()))
        except BrokerUnavailable:
            self._reconcile = True
            raise
        return [(bid, d) for d, items in by_dueslag.items() for bid, _ in items]

    async def _relay_once(self, limit: int = 100) -> int:
        """Publish pending copies and mark them queued, in one transaction that holds the rows: on
        PostgreSQL they are locked (`FOR UPDATE SKIP LOCKED`), so processes sharing the database never
        publish the same copy twice."""
        async with self.rt.db.session() as s, s.begin():
            return await self._relay_in(s, limit)

    async def _relay_in(self, s, limit: int) -> int:
        lev_t = BfLevering.__table__
        stmt = (
            select(  # Core columns: no ORM objects on the hot path; each row reads like a BfLevering
                lev_t.c.seq,
                lev_t.c.besked_id,
                lev_t.c.dueslag,
                lev_t.c.abonnement,
                lev_t.c.tilladte_modtagere,
                BfBesked.body,
                BfBesked.received_at,
                BfBesked.system,
                BfBesked.transaktions_id,
            )
            .join(BfBesked, BfBesked.besked_id == lev_t.c.besked_id)
            .where(lev_t.c.state == "pending")
            .order_by(lev_t.c.seq)
            .limit(limit)
        )
        if self.rt.db.dialect == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True, of=lev_t)
        rows = [r for r in (await s.execute(stmt)).all() if (r.besked_id, r.dueslag) not in self._fast_keys]
        if not rows:
            self._reconcile = False
            return 0
        done: list[int] = []
        if self._reconcile:
            for dueslag in {lev.dueslag for lev in rows}:
                present = await self.broker.present(dueslag)
                done += [lev.seq for lev in rows if lev.dueslag == dueslag and lev.besked_id in present]
            self._reconcile = False
        by_dueslag: dict[str, list[tuple[str, bytes]]] = defaultdict(list)
        parsed: dict[str, etree._Element] = {}
        for lev in rows:
            if lev.seq in done:
                continue
            if lev.besked_id not in parsed:
                parsed[lev.besked_id] = etree.fromstring(lev.body.encode())
            by_dueslag[lev.dueslag].append(
                (
                    lev.besked_id,
                    self._render(
                        parsed[lev.besked_id],
                        lev.abonnement,
                        lev.tilladte_modtagere,
                        lev.received_at,
                        lev.system,
                        lev.transaktions_id,
                    ),
                )
            )
        seqs = {(lev.dueslag, lev.besked_id): lev.seq for lev in rows}
        try:
            await asyncio.gather(*(self.broker.publish(d, items) for d, items in by_dueslag.items()))
        except BrokerUnavailable:
            self._reconcile = True
            raise
        done += [seqs[(d, bid)] for d, items in by_dueslag.items() for bid, _ in items]
        for i in range(0, len(done), 500):
            await s.execute(
                update(lev_t)
                .where(lev_t.c.seq.in_(done[i : i + 500]), lev_t.c.state == "pending")
                .values(state="queued", updated_at=datetime.now(UTC))
            )
        return len(rows)

    async def settle(self, dueslag: str, besked_id: str, state: str, *, attempts: int | None = None) -> None:
        values: dict[str, Any] = {"state": state, "updated_at": datetime.now(UTC)}
        if attempts is not None:
            values["attempts"] = attempts
        async with self.rt.db.session() as s, s.begin():
            await s.execute(
                update(BfLevering)
                .where(BfLevering.besked_id == besked_id, BfLevering.dueslag == dueslag)
                .values(**values)
            )

    async def wait_distributed(self, timeout: float = 10.0) -> None:
        """Return once nothing accepted is still waiting to reach the broker (tests, bench)."""
        deadline = time.monotonic() + timeout
        while True:
            if self._incoming.empty():
                async with self.rt.db.session() as s:
                    pending = await s.scalar(
                        select(func.count()).select_from(BfLevering).where(BfLevering.state == "pending")
                    )
                if not pending:
                    return
            if time.monotonic() > deadline:
                raise TimeoutError("messages are still waiting to be distributed")
            self._relay_wake.set()
            await asyncio.sleep(0.02)

    # -- push and KY -------------------------------------------------------------------------------------

    async def _start_push(self, d: Dueslag) -> None:
        if d.levering != "push" or d.uuid in self.stopped or d.uuid in self._consumers:
            return
        token = self._push_token[d.uuid] = object()
        self._consumers[d.uuid] = await self.broker.consume(d.uuid, lambda dl, d=d, t=token: self._push(d, dl, t))

    async def _stop_push(self, uuid_: str) -> None:
        self._push_token.pop(uuid_, None)
        cancel = self._consumers.pop(uuid_, None)
        if cancel is not None:
            await cancel()

    async def _push(self, d: Dueslag, delivery: Delivery, token: object = None) -> None:
        """Push one message until the receiver answers 20 or delivery stops. One push at a time per dueslag:
        on RabbitMQ the handler of a cancelled consumer may still run when the message it holds is redelivered
        to the next consumer, which must then see what that handler did (its attempts, or that it delivered)."""
        async with self._push_lock[d.uuid]:
            await self._push_locked(d, delivery, token)

    async def _push_locked(self, d: Dueslag, delivery: Delivery, token: object) -> None:
        def stale() -> bool:  # delivery stopped, or this handler's consumer was cancelled
            return d.uuid in self.stopped or (token is not None and self._push_token.get(d.uuid) is not token)

        async def hand_back() -> None:  # the pause lets a pending cancel land instead of a redelivery loop
            await asyncio.sleep(0.05)
            with contextlib.suppress(Exception):
                await delivery.nack(True)

        if stale():
            await hand_back()
            return
        async with self.rt.db.session() as s:
            lev = await s.scalar(
                select(BfLevering).where(BfLevering.besked_id == delivery.besked_id, BfLevering.dueslag == d.uuid)
            )
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
            t0 = time.perf_counter()
            http_status = code = None
            detail = ""
            try:
                if d.callback == "builtin:ky":
                    code, detail = await self._ky_receive(body)
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
            ms = (time.perf_counter() - t0) * 1000
            if code == 20 and (http_status in (None, 200)):
                outcome = "leveret"
            elif code == 40:
                outcome = "pause"
            else:
                outcome = "stoppet"
                detail = detail or (f"StatusKode {code}" if code is not None else "no StatusKode in the answer")
            await self._attempt(d, delivery.besked_id, attempts, outcome, http_status, code, detail, ms)
            if outcome == "leveret":
                await self.settle(d.uuid, delivery.besked_id, "delivered", attempts=attempts)
                await delivery.ack()
                return
            await self.settle(d.uuid, delivery.besked_id, "queued", attempts=attempts)
            if outcome == "pause":
                self.paused_until[d.uuid] = time.monotonic() + pause
                await asyncio.sleep(pause)
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
            await self._mark_stopped(d.uuid, reason)
            await delivery.nack(True)
            asyncio.get_running_loop().create_task(self._stop_push(d.uuid))
            return

    async def _mark_stopped(self, uuid_: str, reason: str | None) -> None:
        if reason:
            self.stopped[uuid_] = reason
        else:
            self.stopped.pop(uuid_, None)
        async with self.rt.db.session() as s, s.begin():
            await s.execute(update(BfDueslag).where(BfDueslag.uuid == uuid_).values(stopped=reason))

    async def _attempt(
        self,
        d: Dueslag,
        besked_id: str,
        attempt: int,
        outcome: str,
        http_status: int | None,
        code: int | None,
        detail: str,
        ms: float,
    ) -> None:
        async with self.rt.db.session() as s, s.begin():
            s.add(
                BfForsoeg(
                    besked_id=besked_id,
                    dueslag=d.uuid,
                    attempt=attempt,
                    at=datetime.now(UTC),
                    target=d.callback or "",
                    outcome=outcome,
                    http_status=http_status,
                    statuskode=code,
                    detail=detail[:4000],
                    duration_ms=ms,
                )
            )

    async def _ky_receive(self, body: bytes) -> tuple[int, str]:
        """The simulated KY's push receiver: read ModtagBeskedInput as a real receiver would, record it,
        and hand status changes and claims open for payment to KY's ledger."""
        from simulator.beskedfordeler.ky import read_debtor_message

        root = kv.parse_copy(body)
        besked_el = root.find(kv.k("Haendelsesbesked"))
        if root.tag != f"{{{kv.STS}}}ModtagBeskedInput" or besked_el is None:
            return 40, "not a ModtagBeskedInput"
        besked = kv.read_besked(besked_el)
        name, data = read_debtor_message(self.cfg, besked)
        municipality = next((kv.cvr_of(m) for m in besked.myndigheder if m), None) or ""
        async with self.rt.db.session() as s:
            seen = await s.scalar(select(BfKyModtaget.seq).where(BfKyModtaget.besked_id == besked.besked_id))
        if seen is None:
            ky = self.rt.find(StatusChangeSink)
            try:
                if ky is not None and name == "DebitorkontoStatusskift":
                    await _maybe_await(
                        ky.record_status_change(
                            municipality,
                            data["debitorkonto_uuid"],
                            data["status"],
                            datetime.fromisoformat(data["at"]),
                            besked.besked_id,
                        )
                    )
                elif ky is not None and name == "FordringTilIndbetaling":
                    await _maybe_await(
                        ky.record_fordring_til_indbetaling(
                            municipality,
                            data["fordring_uuid"],
                            data["authorities"],
                            date.fromisoformat(data["period_from"]) if data.get("period_from") else None,
                            date.fromisoformat(data["period_to"]) if data.get("period_to") else None,
                            besked.besked_id,
                        )
                    )
            except Exception as e:  # noqa: BLE001 - KY cannot take it now: 40 = pause and retry
                log.exception("KY could not record %s", besked.besked_id)
                return 40, f"KY could not record the message: {type(e).__name__}: {e}"
            async with self.rt.db.session() as s, s.begin():
                s.add(
                    BfKyModtaget(
                        besked_id=besked.besked_id,
                        beskedtype=name or besked.beskedtype,
                        municipality=municipality,
                        received_at=datetime.now(UTC),
                        data=data,
                    )
                )
        return 20, ""

    # -- HTTP pull ---------------------------------------------------------------------------------------

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
                await self.settle(dueslag, d.besked_id, "acked")
            else:
                await d.nack(requeue)
                if not requeue:
                    await self.settle(dueslag, d.besked_id, "fejlkoe")
            done.append(tag)
        return {"done": done, "unknown": unknown}

    async def _lease_sweeper(self) -> None:
        while True:
            await asyncio.sleep(0.5)
            now = time.monotonic()
            for tag, (d, until) in list(self.leases.items()):
                if until < now:
                    self.leases.pop(tag, None)
                    with contextlib.suppress(Exception):
                        await d.nack(True)

    # -- error queue and admin ---------------------------------------------------------------------------

    async def flyt_til_fejlkoe(self, dueslag: str, besked_id: str | None) -> str | None:
        """Move one message (by BeskedId, or the head of the queue) to the dueslag's error queue."""
        was_push = dueslag in self._consumers
        if was_push:
            await self._stop_push(dueslag)  # a push consumer may hold the head message
        try:
            moved = await self.broker.to_error(dueslag, besked_id)
        finally:
            if was_push or (
                self.dueslag.get(dueslag) and self.dueslag[dueslag].levering == "push" and dueslag not in self.stopped
            ):
                await self._start_push(self.dueslag[dueslag])
        if moved:
            await self.settle(dueslag, moved, "fejlkoe")
        return moved

    async def gensend_fra_fejlkoe(self, dueslag: str, besked_id: str | None) -> list[str]:
        moved = await self.broker.from_error(dueslag, besked_id)
        for bid in moved:
            await self.settle(dueslag, bid, "queued")
        return moved

    async def genoptag(self, dueslag: str) -> None:
        """Resume push delivery of a stopped dueslag."""
        await self._mark_stopped(dueslag, None)
        d = self.dueslag[dueslag]
        await self._stop_push(dueslag)
        await self._start_push(d)

    async def put_dueslag(self, d: Dueslag) -> Dueslag:
        problem = check_dueslag(d, set(self.rt.routes.systems))
        if problem:
            raise ValueError(problem)
        d.origin = "api"
        async with self.rt.db.session() as s, s.begin():
            await s.merge(BfDueslag(uuid=d.uuid, data=d.out(), origin="api", stopped=self.stopped.get(d.uuid)))
        await self._stop_push(d.uuid)
        self.dueslag[d.uuid] = d
        await self.broker.declare(d.uuid)
        await self._start_push(d)
        return d

    async def delete_dueslag(self, uuid_: str) -> bool:
        if any(a.dueslag == uuid_ for a in self.abonnementer.values()):
            raise ValueError("delete the dueslag's abonnementer first")
        await self._stop_push(uuid_)
        async with self.rt.db.session() as s, s.begin():
            result = await s.execute(delete(BfDueslag).where(BfDueslag.uuid == uuid_))
        self.dueslag.pop(uuid_, None)
        return bool(result.rowcount)

    async def put_abonnement(self, a: Abonnement) -> Abonnement:
        a.beskedtyper = [self.cfg.beskedtype_uuid(t) or t for t in a.beskedtyper]
        problem = check_abonnement(a, set(self.dueslag))
        if problem:
            raise ValueError(problem)
        a.origin = "api"
        async with self.rt.db.session() as s, s.begin():
            await s.merge(BfAbonnement(uuid=a.uuid, data=a.out(), origin="api"))
        self.abonnementer[a.uuid] = a
        return a

    async def delete_abonnement(self, uuid_: str) -> bool:
        async with self.rt.db.session() as s, s.begin():
            result = await s.execute(delete(BfAbonnement).where(BfAbonnement.uuid == uuid_))
        self.abonnementer.pop(uuid_, None)
        return bool(result.rowcount)

    async def health(self) -> dict[str, Any]:
        broker = self.broker.health()
        return {
            "ok": bool(broker["ok"]),
            "broker": broker,
            "accepted": self.accepted,
            "refused": self.refused,
            "relay_error": self.relay_error,
            "stopped_dueslag": sorted(self.stopped),
        }


_MISSING = object()
_BESKED_COLUMNS = (
    "besked_id",
    "received_at",
    "channel",
    "system",
    "municipality",
    "beskedtype",
    "transaktions_id",
    "sha256",
    "body",
)
_LEVERING_COLUMNS = ("besked_id", "dueslag", "abonnement", "state", "tilladte_modtagere", "attempts", "updated_at")


def _repeat_or_clash(besked_id: str, stored_sha256: str, sha256: str) -> Retur:
    """The answer to a message whose BeskedId is stored already: a repeat of the same message is answered
    20 again (and sent once); another message under a used BeskedId is refused 40."""
    if stored_sha256 == sha256:
        return Retur(20, besked_id=besked_id)
    return Retur(
        40,
        "BESKEDID_GENBRUGT",
        f"BeskedId {besked_id} was already used for another message; every message needs a new BeskedId",
        besked_id,
    )


def _insert_new_beskeder(conn, rows: list[tuple]) -> set[str]:
    """INSERT the messages (PostgreSQL) with ON CONFLICT DO NOTHING, in BeskedId order (two processes
    inserting overlapping batches then wait for each other instead of deadlocking); returns the BeskedIds
    another process had stored, which were not inserted."""
    if not rows:
        return set()
    from sqlalchemy.dialects.postgresql import insert as pg_insert

    table = BfBesked.__table__
    rows = sorted(rows, key=lambda row: row[0])
    inserted = set(
        conn.scalars(
            pg_insert(table)
            .values([dict(zip(_BESKED_COLUMNS, row, strict=True)) for row in rows])
            .on_conflict_do_nothing(index_elements=["besked_id"])
            .returning(table.c.besked_id)
        ).all()
    )
    return {row[0] for row in rows} - inserted


def _insert_raw(conn, table, columns: tuple[str, ...], rows: list[tuple]) -> None:
    """INSERT rows with one driver-level executemany (SQLite). Each value goes through its column type's
    bind processor, as with a Core insert, but without the per-row statement machinery running in Python
    (in a worker thread, while the event loop waits for the GIL); values every row shares (the batch's
    timestamp, no TilladtModtager) are processed once."""
    processed = []
    for i, name in enumerate(columns):
        proc = table.c[name].type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
        if proc is not None:
            processed.append((i, proc, {}))
    if processed:
        out = []
        for row in rows:
            row = list(row)
            for i, proc, cache in processed:
                v = row[i]
                if isinstance(v, (datetime, type(None))):
                    hit = cache.get(v, _MISSING)
                    if hit is _MISSING:
                        hit = cache[v] = proc(v)
                    row[i] = hit
                else:
                    row[i] = proc(v)
            out.append(tuple(row))
        rows = out
    placeholders = ", ".join("?" * len(columns))
    conn.exec_driver_sql(f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({placeholders})", rows)


def _mark_queued_statements(keys: list[tuple[str, str]]) -> list:
    """UPDATEs that mark the copies (BeskedId, dueslag) queued, if still pending."""
    lev_t = BfLevering.__table__
    by_dueslag: dict[str, list[str]] = defaultdict(list)
    for bid, dueslag in keys:
        by_dueslag[dueslag].append(bid)
    now = datetime.now(UTC)
    return [
        update(lev_t)
        .where(lev_t.c.dueslag == dueslag, lev_t.c.besked_id.in_(ids[i : i + 500]), lev_t.c.state == "pending")
        .values(state="queued", updated_at=now)
        for dueslag, ids in by_dueslag.items()
        for i in range(0, len(ids), 500)
    ]


def _mark_queued(conn, *, keys: list[tuple[str, str]]) -> None:
    if conn.dialect.name == "sqlite":  # one executemany over the unique (besked_id, dueslag) index
        stamp = BfLevering.__table__.c.updated_at.type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
        now = stamp(datetime.now(UTC))
        conn.exec_driver_sql(
            "UPDATE bf_levering SET state = 'queued', updated_at = ? "
            "WHERE besked_id = ? AND dueslag = ? AND state = 'pending'",
            [(now, bid, dueslag) for bid, dueslag in keys],
        )
        return
    for stmt in _mark_queued_statements(keys):
        conn.execute(stmt)


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)


async def _maybe_await(value: Any) -> Any:
    if inspect.isawaitable(value):
        return await value
    return value
