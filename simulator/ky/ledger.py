"""The simulated KY ledger: debtor accounts per municipality, their claims and movements, and KY's
calls to the debtor systems (sent through the platform like any caller: agreement, route, record).

Outstanding per claim = amount − coverages − write-offs − down-adjustments + interest + fees.
KY's own payments (indbetalinger) do not move the balance: the debtor system's coverages do.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from lxml import etree
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from simulator.ky import xml as x
from simulator.ky.booking import (  # noqa: F401 - Refusal and the codes are part of the ledger's surface
    E_ABOVE_OUTSTANDING,
    E_CLAIM_CLOSED,
    E_ID_CONFLICT,
    E_INVALID,
    E_NOT_POSITIVE,
    E_OTHER_MUNICIPALITY,
    E_UNKNOWN_CLAIM,
    E_UNKNOWN_SUBCLAIM,
    EFFECT,
    Bookings,
    Refusal,
)
from simulator.ky.contracts import DEBITOR_NS, ns_of
from simulator.ky.models import (
    KyAccount,
    KyAccountStatus,
    KyClaim,
    KyFordringTilIndbetaling,
    KyLiability,
    KyPosting,
    KySubClaim,
)
from simulator.soap.context import UUID_RE, InvocationContext, build_context_elements
from simulator.soap.envelope import build_envelope, parse_envelope
from simulator.soap.errors import SoapFaultError
from simulator.soap.ns import SOAP11, SP_FAULT
from simulator.store import where_equal

if TYPE_CHECKING:
    from simulator.runtime import Runtime

DEMO_FORDRINGSTYPE = "5b3c1f0e-6a7d-4e2b-9c1a-0d2e3f4a5b6c"
"""Fordringstype used when a claim names none (a Klasse UUID of KY's debtor sortiment in real life)."""
KY_USER_UUID = "00000000-0000-4000-8000-00000000c0de"
CLAIM_VIEW_POSTINGS = 200
"""A claim's view lists its newest postings only (its totals cover all of them)."""


class KyError(Exception):
    """A request to the ledger that cannot be carried out (HTTP status and message for the admin API)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class SendResult:
    """What came back from a call KY made through the platform."""

    service: str
    operation: str
    exchange_id: str
    kvittering: x.Kvittering
    fault_code: str | None = None
    fault_text: str | None = None
    payload: etree._Element | None = field(default=None, repr=False)

    @property
    def accepted(self) -> bool:
        return self.fault_code is None and self.kvittering.accepted

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "service": self.service,
            "operation": self.operation,
            "exchange_id": self.exchange_id,
            "accepted": self.accepted,
            "kvittering": self.kvittering.as_dict(),
        }
        if self.fault_code:
            out["fault"] = {"code": self.fault_code, "text": self.fault_text}
        return out


def _now() -> datetime:
    return datetime.now(UTC)


def _party(cpr: str | None, cvr: str | None, name: str | None) -> dict[str, Any]:
    return {k: v for k, v in {"cpr": cpr, "cvr": cvr, "name": name}.items() if v}


class KyLedger:
    """KY's books, stored in the simulator's database (the runtime's `KyLedger`, `KyActions`, `StatusChangeSink`)."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.bookings = Bookings(rt.db)

    # -- outgoing calls ---------------------------------------------------------------------------

    def _ky_system(self):
        for s in self.rt.routes.systems.values():
            if s.kind == "ky":
                return s
        raise KyError(409, "no it-system of kind 'ky' in routes/systems.yaml")

    async def send(self, municipality: str, service: str, operation: str, children: list[etree._Element]) -> SendResult:
        """Build ``<operation>Request`` (context elements first), send it through the platform as KY."""
        if service not in self.rt.routes.services:
            raise KyError(409, f"service {service} is not in routes/services.yaml")
        system = self._ky_system()
        agreements = self.rt.routes.agreements_for(system.key, municipality, service)
        if not agreements:
            raise KyError(
                409,
                f"KY ({system.key}) has no active service agreement for {service} "
                f"in municipality {municipality} (routes/agreements.yaml or PUT /api/agreements)",
            )
        svc = self.rt.routes.services[service]
        ns = ns_of(service)
        inv = InvocationContext(
            service_agreement_uuid=agreements[0].uuid,
            user_system_uuid=system.uuid,
            user_uuid=KY_USER_UUID,
            service_uuid=svc.uuid,
            callers_service_call_identifier=str(uuid.uuid4()),
        )
        req = etree.Element(f"{{{ns}}}{operation}Request", nsmap={"r": ns, "d": DEBITOR_NS})
        for el in build_context_elements(inv, municipality):
            req.append(el)
        for el in children:
            req.append(el)
        resp = await self.rt.call(service, build_envelope(req), soap_action=ns + operation, origin="ky")
        result = SendResult(service, operation, resp.exchange_id, x.Kvittering("FEJLET"))
        try:
            env = parse_envelope(resp.body)
        except SoapFaultError as e:
            result.fault_code, result.fault_text = "KY-NO-ANSWER", e.text
            result.kvittering = x.Kvittering("FEJLET", f"no SOAP answer: {e.text}")
            return result
        payload = env.payload
        if payload is None or payload.tag == f"{{{SOAP11}}}Fault":
            code = payload.findtext(f".//{{{SP_FAULT}}}ErrorCode") if payload is not None else None
            text = (
                payload.findtext(f".//{{{SP_FAULT}}}ErrorText") or payload.findtext("faultstring")
                if payload is not None
                else "empty Body"
            )
            result.fault_code, result.fault_text = code or resp.fault_code or "FAULT", text
            result.kvittering = x.Kvittering("FEJLET", f"SOAP fault {result.fault_code}: {text}")
            return result
        result.payload = payload
        result.kvittering = x.read_kvittering(payload)
        return result

    # -- KY's own actions -------------------------------------------------------------------------

    async def create_account(self, spec: dict[str, Any], *, send: bool = True) -> dict[str, Any]:
        """Store a debtor account with its claims and send it (OpretDebitorkonto)."""
        municipality = spec["municipality"]
        if municipality not in self.rt.routes.municipalities:
            raise KyError(422, f"unknown municipality {municipality}")
        debtor = spec["debitor"]
        cpr, cvr = debtor.get("cpr"), debtor.get("cvr")
        if bool(cpr) == bool(cvr):
            raise KyError(422, "debitor needs exactly one of cpr or cvr")
        if not spec.get("claims"):
            raise KyError(422, "an account needs at least one claim")
        account_uuid = spec.get("account_uuid") or str(uuid.uuid4())
        kind = spec.get("kind") or ("Person" if cpr else "Virksomhed")
        today = date.today()
        account = KyAccount(
            uuid=account_uuid,
            municipality=municipality,
            kind=kind,
            cpr=cpr,
            cvr=cvr,
            name=debtor.get("name"),
            version=1,
            status="oprettet",
            created_at=_now(),
            registration=None,
        )
        liabilities = [
            KyLiability(
                uuid=lb.get("uuid") or str(uuid.uuid4()),
                account_uuid=account_uuid,
                role=lb["role"],
                cpr=lb.get("cpr"),
                cvr=lb.get("cvr"),
                name=lb.get("name"),
                valid_from=lb.get("valid_from") or today,
            )
            for lb in (spec.get("liabilities") or [{"role": "JuridiskAnsvarlig", **debtor}])
        ]
        claims: list[KyClaim] = []
        subclaims: list[KySubClaim] = []
        for c in spec["claims"]:
            amount = x.oere(c["amount"])
            if amount <= 0:
                raise KyError(422, "a claim's amount must be positive")
            claim = KyClaim(
                uuid=c.get("uuid") or str(uuid.uuid4()),
                account_uuid=account_uuid,
                municipality=municipality,
                fordringstype=c.get("fordringstype") or DEMO_FORDRINGSTYPE,
                amount=amount,
                state="Aktiv",
                period_from=c.get("period_from"),
                period_to=c.get("period_to"),
                due_date=c.get("due_date") or today + timedelta(days=30),
                last_payment_date=c.get("last_payment_date"),
            )
            subs = c.get("subclaims") or [{"amount": c["amount"]}]
            parts = [
                KySubClaim(
                    uuid=s.get("uuid") or str(uuid.uuid4()),
                    claim_uuid=claim.uuid,
                    amount=x.oere(s["amount"]),
                    period_from=s.get("period_from"),
                    period_to=s.get("period_to"),
                    posting=s.get("kontering"),
                )
                for s in subs
            ]
            if sum(p.amount for p in parts) != amount:
                raise KyError(422, f"the sub-claims of claim {claim.uuid} do not add up to its amount")
            claims.append(claim)
            subclaims.extend(parts)
        account.registration = {"opkraevningsform": spec.get("opkraevningsform")}
        async with self.rt.db.session() as s, s.begin():
            if await s.get(KyAccount, account_uuid) is not None:
                raise KyError(409, f"account {account_uuid} exists")
            s.add(account)
            await s.flush()
            s.add_all(liabilities)
            s.add_all(claims)
            await s.flush()
            s.add_all(subclaims)
            s.add(
                KyAccountStatus(
                    account_uuid=account_uuid, municipality=municipality, status="oprettet", at=_now(), source="ky"
                )
            )
        out: dict[str, Any] = {"account_uuid": account_uuid}
        if send:
            out["sent"] = (await self.send_account(account_uuid)).as_dict()
        out["account"] = await self.account(account_uuid)
        return out

    async def send_account(self, account_uuid: str) -> SendResult:
        acc = await self.account(account_uuid)
        konto = etree.Element(f"{{{ns_of('DebitorRegistreringAfsend')}}}Debitorkonto")
        D = DEBITOR_NS  # noqa: N806
        x.sub(konto, D, "DebitorkontoUUID", acc["uuid"])
        h = x.sub(konto, D, "Hovedoplysninger")
        x.sub(h, D, "Version", acc["version"])
        x.sub(h, D, "DebitorkontoType", acc["kind"])
        x.sub(h, D, "EjerSystem", "KY")
        _party_el(konto, "Debitor", acc["debitor"])
        for lb in acc["liabilities"]:
            he = x.sub(konto, D, "Haeftelse")
            x.sub(he, D, "HaeftelseUUID", lb["uuid"])
            x.sub(he, D, "Rolle", lb["role"])
            _party_el(he, "Part", lb["party"])
            x.sub(he, D, "GyldigFra", lb["valid_from"])
            x.opt(he, D, "GyldigTil", lb["valid_to"])
        if acc["opkraevningsform"]:
            o = x.sub(konto, D, "Opkraevning")
            x.sub(o, D, "Opkraevningsform", acc["opkraevningsform"])
        for c in acc["claims"]:
            f = x.sub(konto, D, "Fordring")
            x.sub(f, D, "FordringUUID", c["uuid"])
            x.sub(f, D, "FordringstypeUUID", c["fordringstype"])
            x.opt(f, D, "PeriodeFra", c["period_from"])
            x.opt(f, D, "PeriodeTil", c["period_to"])
            x.sub(f, D, "Forfaldsdato", c["due_date"])
            x.opt(f, D, "SidsteRettidigeBetalingsdato", c["last_payment_date"])
            x.sub(f, D, "Beloeb", c["amount"])
            x.sub(f, D, "Tilstand", c["state"])
            for sc in c["subclaims"]:
                de = x.sub(f, D, "Delfordring")
                x.sub(de, D, "DelfordringUUID", sc["uuid"])
                x.sub(de, D, "Beloeb", sc["amount"])
                x.opt(de, D, "PeriodeFra", sc["period_from"])
                x.opt(de, D, "PeriodeTil", sc["period_to"])
                x.opt(de, D, "Kontering", sc["kontering"])
        result = await self.send(acc["municipality"], "DebitorRegistreringAfsend", "OpretDebitorkonto", [konto])
        if result.accepted:
            await self._set_status(acc["uuid"], acc["municipality"], "aktiv", "ky", result.exchange_id)
        return result

    async def _set_status(
        self, account_uuid: str, municipality: str, status: str, source: str, exchange_id: str | None = None
    ) -> None:
        async with self.rt.db.session() as s, s.begin():
            await s.execute(update(KyAccount).where(KyAccount.uuid == account_uuid).values(status=status))
            s.add(
                KyAccountStatus(
                    account_uuid=account_uuid,
                    municipality=municipality,
                    status=status,
                    at=_now(),
                    source=source,
                    exchange_id=exchange_id,
                )
            )

    async def _claim(self, claim_uuid: str) -> KyClaim:
        async with self.rt.db.session() as s:
            claim = await s.get(KyClaim, claim_uuid)
        if claim is None:
            raise KyError(404, f"no claim {claim_uuid}")
        return claim

    async def change_claim_state(
        self, claim_uuid: str, state: str, *, down_adjustment: str | None = None, reason: str | None = None
    ) -> dict[str, Any]:
        """RetFordringTilstand; with ``down_adjustment`` KY also adjusts the claim down by that amount."""
        from simulator.ky.contracts import FORDRING_TILSTANDE

        if state not in FORDRING_TILSTANDE:
            raise KyError(422, f"state must be one of {', '.join(FORDRING_TILSTANDE)}")
        claim = await self._claim(claim_uuid)
        amount = x.oere(down_adjustment) if down_adjustment is not None else None
        if amount is not None:
            if amount <= 0:
                raise KyError(422, "a down-adjustment must be positive")
            if amount > (await self.claim_view(claim_uuid))["outstanding_oere"]:
                raise KyError(422, "the down-adjustment is above what is outstanding on the claim")
        ns = ns_of("DebitorRegistreringAfsend")
        posting_uuid = str(uuid.uuid4())
        children = [
            _el(ns, "DebitorkontoUUID", claim.account_uuid),
            _el(ns, "FordringUUID", claim_uuid),
            _el(ns, "Tilstand", state),
        ]
        if amount is not None:
            children += [_el(ns, "NedreguleringUUID", posting_uuid), _el(ns, "NedreguleringBeloeb", x.kroner(amount))]
        if reason:
            children.append(_el(ns, "Begrundelse", reason))
        result = await self.send(claim.municipality, "DebitorRegistreringAfsend", "RetFordringTilstand", children)
        if result.accepted:
            async with self.rt.db.session() as s, s.begin():
                values: dict[str, Any] = {"state": state}
                if amount is not None:
                    values["movements"] = KyClaim.movements - amount
                await s.execute(update(KyClaim).where(KyClaim.uuid == claim_uuid).values(**values))
                if amount is not None:
                    s.add(
                        KyPosting(
                            posting_uuid=posting_uuid,
                            kind="nedregulering",
                            municipality=claim.municipality,
                            claim_uuid=claim_uuid,
                            amount=amount,
                            on_date=date.today(),
                            reason=reason,
                            exchange_id=result.exchange_id,
                            created_at=_now(),
                        )
                    )
        return {"sent": result.as_dict(), "claim": await self.claim_view(claim_uuid)}

    async def end_liability(
        self, liability_uuid: str, valid_to: date | None = None, reason: str | None = None
    ) -> dict[str, Any]:
        """AfslutHaeftelse (AfslutAdministrator for the administrator role): end a liability."""
        async with self.rt.db.session() as s:
            lb = await s.get(KyLiability, liability_uuid)
            acc = await s.get(KyAccount, lb.account_uuid) if lb else None
        if lb is None or acc is None:
            raise KyError(404, f"no liability {liability_uuid}")
        valid_to = valid_to or date.today()
        op = "AfslutAdministrator" if lb.role == "Administrator" else "AfslutHaeftelse"
        ns = ns_of("DebitorRegistreringAfsend")
        children = [
            _el(ns, "DebitorkontoUUID", acc.uuid),
            _el(ns, "HaeftelseUUID", lb.uuid),
            _el(ns, "GyldigTil", valid_to.isoformat()),
        ]
        if reason:
            children.append(_el(ns, "Begrundelse", reason))
        result = await self.send(acc.municipality, "DebitorRegistreringAfsend", op, children)
        if result.accepted:
            async with self.rt.db.session() as s, s.begin():
                await s.execute(update(KyLiability).where(KyLiability.uuid == liability_uuid).values(valid_to=valid_to))
        return {"sent": result.as_dict(), "account": await self.account(acc.uuid)}

    async def pay(
        self,
        claim_uuid: str,
        amount: str,
        *,
        subclaim_uuid: str | None = None,
        value_date: date | None = None,
        payment_uuid: str | None = None,
    ) -> dict[str, Any]:
        """ForetagIndbetaling: KY pays on a claim; the debtor system answers with coverages later."""
        claim = await self._claim(claim_uuid)
        value = x.oere(amount)
        if value <= 0:
            raise KyError(422, "a payment must be positive")
        payment_uuid = payment_uuid or str(uuid.uuid4())
        value_date = value_date or date.today()
        ns = ns_of("DebitorIndbetalingAfsend")
        D = DEBITOR_NS  # noqa: N806
        ib = etree.Element(f"{{{ns}}}Indbetaling")
        x.sub(ib, D, "IndbetalingUUID", payment_uuid)
        x.sub(ib, D, "FordringUUID", claim_uuid)
        x.opt(ib, D, "DelfordringUUID", subclaim_uuid)
        x.sub(ib, D, "Beloeb", x.kroner(value))
        x.sub(ib, D, "Valoerdato", value_date)
        x.sub(ib, D, "IndbetalendeMyndighedCVR", claim.municipality)
        result = await self.send(claim.municipality, "DebitorIndbetalingAfsend", "ForetagIndbetaling", [ib])
        if result.accepted:
            async with self.rt.db.session() as s, s.begin():
                s.add(
                    KyPosting(
                        posting_uuid=payment_uuid,
                        kind="indbetaling",
                        municipality=claim.municipality,
                        claim_uuid=claim_uuid,
                        subclaim_uuid=subclaim_uuid,
                        payment_uuid=payment_uuid,
                        amount=value,
                        on_date=value_date,
                        exchange_id=result.exchange_id,
                        created_at=_now(),
                    )
                )
        return {"payment_uuid": payment_uuid, "sent": result.as_dict(), "claim": await self.claim_view(claim_uuid)}

    # -- queries to the debtor system (SF1590_B_02, B_03) -----------------------------------------

    async def search_accounts(
        self, municipality: str, *, cpr: str | None = None, cvr: str | None = None
    ) -> dict[str, Any]:
        if bool(cpr) == bool(cvr):
            raise KyError(422, "search by exactly one of cpr or cvr")
        ns = ns_of("DebitorForespoergselAfsend")
        part = etree.Element(f"{{{ns}}}Part")
        x.opt(part, DEBITOR_NS, "CPR", cpr)
        x.opt(part, DEBITOR_NS, "CVR", cvr)
        result = await self.send(municipality, "DebitorForespoergselAfsend", "SoegDebitorkonto", [part])
        items = []
        if result.payload is not None:
            for el in result.payload.iterfind(f"{{{ns}}}Debitorkonto"):
                items.append(
                    {
                        "uuid": x.d(el, "DebitorkontoUUID"),
                        "kind": x.d(el, "DebitorkontoType"),
                        "status": x.d(el, "Status"),
                        "outstanding": x.d(el, "Restbeloeb"),
                    }
                )
        return {"sent": result.as_dict(), "accounts": items}

    async def read_remote_account(self, account_uuid: str, municipality: str | None = None) -> dict[str, Any]:
        """LaesDebitorkonto: the account as the debtor system sees it."""
        if not UUID_RE.match(account_uuid):
            raise KyError(422, f"'{account_uuid}' is not a lower-case UUID")
        if municipality is None:
            municipality = (await self.account(account_uuid))["municipality"]
        ns = ns_of("DebitorForespoergselAfsend")
        result = await self.send(
            municipality, "DebitorForespoergselAfsend", "LaesDebitorkonto", [_el(ns, "DebitorkontoUUID", account_uuid)]
        )
        konto = result.payload.find(f"{{{ns}}}Debitorkonto") if result.payload is not None else None
        return {"sent": result.as_dict(), "account": _remote_account(konto) if konto is not None else None}

    async def open_subclaims(
        self, municipality: str, *, account_uuid: str | None = None, cpr: str | None = None, cvr: str | None = None
    ) -> dict[str, Any]:
        """SoegDelfordringTilIndbetaling: sub-claims open for payment."""
        ns = ns_of("DebitorIndbetalingAfsend")
        children = []
        if account_uuid:
            children.append(_el(ns, "DebitorkontoUUID", account_uuid))
        if cpr or cvr:
            part = etree.Element(f"{{{ns}}}Part")
            x.opt(part, DEBITOR_NS, "CPR", cpr)
            x.opt(part, DEBITOR_NS, "CVR", cvr)
            children.append(part)
        result = await self.send(municipality, "DebitorIndbetalingAfsend", "SoegDelfordringTilIndbetaling", children)
        items = []
        if result.payload is not None:
            for el in result.payload.iterfind(f"{{{ns}}}DelfordringTilIndbetaling"):
                items.append(
                    {
                        "account_uuid": x.d(el, "DebitorkontoUUID"),
                        "claim_uuid": x.d(el, "FordringUUID"),
                        "subclaim_uuid": x.d(el, "DelfordringUUID"),
                        "outstanding": x.d(el, "Restbeloeb"),
                        "due_date": x.d(el, "Forfaldsdato", required=False),
                    }
                )
        return {"sent": result.as_dict(), "subclaims": items}

    # -- incoming: coverages and write-offs (builtin:ky) -------------------------------------------

    async def register_posting(
        self, municipality: str, kind: str, item: dict[str, Any], exchange_id: str | None
    ) -> x.Kvittering:
        """Check a coverage/write-off against the ledger and book it (group-committed with concurrent
        bookings, simulator.ky.booking); refusals raise Refusal."""
        if item["amount"] <= 0:
            raise Refusal(E_NOT_POSITIVE, f"the amount must be positive ({x.kroner(item['amount'])})")
        outstanding = await self.bookings.book(municipality, kind, item, exchange_id)
        if isinstance(outstanding, x.Kvittering):
            return outstanding
        left = outstanding - item["amount"]
        what = "coverage" if kind == "daekning" else "write-off"
        return x.Kvittering(
            "ACCEPTERET",
            f"{what} {item['uuid']} of {x.kroner(item['amount'])} booked on claim "
            f"{item['claim_uuid']}; outstanding now {x.kroner(left)}",
        )

    # -- incoming from Beskedfordeleren ------------------------------------------------------------

    async def record_status_change(
        self, municipality: str, debitorkonto_uuid: str, status: str, at: datetime, besked_id: str
    ) -> bool:
        """Append a debtor account status change (debitorkonto statusskift) to the account's history;
        idempotent per ``besked_id``. Returns False for a repeat."""
        async with self.rt.db.session() as s:
            if (await s.scalars(select(KyAccountStatus.id).where(KyAccountStatus.besked_id == besked_id))).first():
                return False
        try:
            async with self.rt.db.session() as s, s.begin():
                s.add(
                    KyAccountStatus(
                        account_uuid=debitorkonto_uuid,
                        municipality=municipality,
                        status=status,
                        at=at,
                        source="beskedfordeler",
                        besked_id=besked_id,
                    )
                )
                await s.flush()
                await s.execute(update(KyAccount).where(KyAccount.uuid == debitorkonto_uuid).values(status=status))
        except IntegrityError:
            return False
        return True

    async def record_fordring_til_indbetaling(
        self,
        municipality: str,
        fordring_uuid: str,
        authorities: list[str],
        period_from: date | None,
        period_to: date | None,
        besked_id: str,
    ) -> bool:
        """Store a "fordring til indbetaling" message (which authorities may pay a claim, and when);
        idempotent per ``besked_id``. Returns False for a repeat."""
        async with self.rt.db.session() as s:
            if (
                await s.scalars(
                    select(KyFordringTilIndbetaling.id).where(KyFordringTilIndbetaling.besked_id == besked_id)
                )
            ).first():
                return False
        try:
            async with self.rt.db.session() as s, s.begin():
                s.add(
                    KyFordringTilIndbetaling(
                        municipality=municipality,
                        fordring_uuid=fordring_uuid,
                        authorities=list(authorities),
                        period_from=period_from,
                        period_to=period_to,
                        besked_id=besked_id,
                        received_at=_now(),
                    )
                )
        except IntegrityError:
            return False
        return True

    # -- views --------------------------------------------------------------------------------------

    async def accounts(
        self, *, municipality: str | None = None, cpr: str | None = None, cvr: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        stmt = select(KyAccount).order_by(KyAccount.created_at.desc()).limit(limit)
        if municipality:
            stmt = stmt.where(KyAccount.municipality == municipality)
        if cpr:
            stmt = stmt.where(KyAccount.cpr == cpr)
        if cvr:
            stmt = stmt.where(KyAccount.cvr == cvr)
        async with self.rt.db.session() as s:
            rows = (await s.scalars(stmt)).all()
        return [await self.account(a.uuid) for a in rows]

    async def account(self, account_uuid: str) -> dict[str, Any]:
        async with self.rt.db.session() as s:
            acc = await s.get(KyAccount, account_uuid)
            if acc is None:
                raise KyError(404, f"no account {account_uuid}")
            history = (
                await s.scalars(
                    select(KyAccountStatus)
                    .where(KyAccountStatus.account_uuid == account_uuid)
                    .order_by(KyAccountStatus.at, KyAccountStatus.id)
                )
            ).all()
            liabilities = (
                await s.scalars(
                    select(KyLiability)
                    .where(KyLiability.account_uuid == account_uuid)
                    .order_by(KyLiability.valid_from, KyLiability.uuid)
                )
            ).all()
            claims = (
                await s.scalars(
                    select(KyClaim).where(KyClaim.account_uuid == account_uuid).order_by(KyClaim.due_date, KyClaim.uuid)
                )
            ).all()
        claim_views = [await self.claim_view(c.uuid) for c in claims]
        return {
            "uuid": acc.uuid,
            "municipality": acc.municipality,
            "kind": acc.kind,
            "debitor": _party(acc.cpr, acc.cvr, acc.name),
            "version": acc.version,
            "status": acc.status,
            "opkraevningsform": (acc.registration or {}).get("opkraevningsform"),
            "created_at": acc.created_at.isoformat(),
            "status_history": [
                {
                    "status": h.status,
                    "at": h.at.isoformat(),
                    "source": h.source,
                    "besked_id": h.besked_id,
                    "exchange_id": h.exchange_id,
                }
                for h in history
            ],
            "liabilities": [
                {
                    "uuid": lb.uuid,
                    "role": lb.role,
                    "party": _party(lb.cpr, lb.cvr, lb.name),
                    "valid_from": lb.valid_from.isoformat(),
                    "valid_to": lb.valid_to.isoformat() if lb.valid_to else None,
                }
                for lb in liabilities
            ],
            "claims": claim_views,
            "outstanding": x.kroner(sum(c["outstanding_oere"] for c in claim_views)),
        }

    async def claim_view(self, claim_uuid: str) -> dict[str, Any]:
        async with self.rt.db.session() as s:
            c = await s.get(KyClaim, claim_uuid)
            if c is None:
                raise KyError(404, f"no claim {claim_uuid}")
            subs = (
                await s.scalars(select(KySubClaim).where(KySubClaim.claim_uuid == claim_uuid).order_by(KySubClaim.uuid))
            ).all()
            sums = (
                await s.execute(
                    select(KyPosting.kind, func.sum(KyPosting.amount), func.count())
                    .where(KyPosting.claim_uuid == claim_uuid)
                    .group_by(KyPosting.kind)
                )
            ).all()
            newest = (
                await s.scalars(
                    select(KyPosting)
                    .where(KyPosting.claim_uuid == claim_uuid)
                    .order_by(KyPosting.id.desc())
                    .limit(CLAIM_VIEW_POSTINGS)
                )
            ).all()
        totals = dict.fromkeys(EFFECT, 0) | {kind: int(total or 0) for kind, total, _ in sums}
        outstanding = c.amount + sum(EFFECT.get(kind, 0) * total for kind, total in totals.items())
        return {
            "uuid": c.uuid,
            "account_uuid": c.account_uuid,
            "municipality": c.municipality,
            "fordringstype": c.fordringstype,
            "amount": x.kroner(c.amount),
            "state": c.state,
            "period_from": _iso(c.period_from),
            "period_to": _iso(c.period_to),
            "due_date": _iso(c.due_date),
            "last_payment_date": _iso(c.last_payment_date),
            "subclaims": [
                {
                    "uuid": sc.uuid,
                    "amount": x.kroner(sc.amount),
                    "period_from": _iso(sc.period_from),
                    "period_to": _iso(sc.period_to),
                    "kontering": sc.posting,
                }
                for sc in subs
            ],
            "paid": x.kroner(totals["indbetaling"]),
            "covered": x.kroner(totals["daekning"]),
            "written_off": x.kroner(totals["afskrivning"]),
            "down_adjusted": x.kroner(totals["nedregulering"]),
            "interest": x.kroner(totals["rente"]),
            "fees": x.kroner(totals["gebyr"]),
            "outstanding": x.kroner(outstanding),
            "outstanding_oere": outstanding,
            # the running balance booked with each posting agrees with the sum of the postings
            "balance_consistent": c.amount + c.movements == outstanding,
            "postings_count": sum(n for _, _, n in sums),
            "postings": [_posting(p) for p in reversed(newest)],  # the newest CLAIM_VIEW_POSTINGS, oldest first
        }

    async def postings(
        self,
        *,
        municipality: str | None = None,
        kind: str | None = None,
        claim_uuid: str | None = None,
        before: int | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        stmt = where_equal(
            _newest_first(KyPosting, before, limit),
            KyPosting,
            municipality=municipality,
            kind=kind,
            claim_uuid=claim_uuid,
        )
        async with self.rt.db.session() as s:
            return [_posting(p) for p in (await s.scalars(stmt)).all()]

    async def status_changes(
        self,
        *,
        municipality: str | None = None,
        account_uuid: str | None = None,
        before: int | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        stmt = where_equal(
            _newest_first(KyAccountStatus, before, limit),
            KyAccountStatus,
            municipality=municipality,
            account_uuid=account_uuid,
        )
        async with self.rt.db.session() as s:
            rows = (await s.scalars(stmt)).all()
        return [
            {
                "id": r.id,
                "account_uuid": r.account_uuid,
                "municipality": r.municipality,
                "status": r.status,
                "at": r.at.isoformat(),
                "source": r.source,
                "besked_id": r.besked_id,
                "exchange_id": r.exchange_id,
            }
            for r in rows
        ]

    async def fordringer_til_indbetaling(
        self,
        *,
        municipality: str | None = None,
        fordring_uuid: str | None = None,
        before: int | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        stmt = where_equal(
            _newest_first(KyFordringTilIndbetaling, before, limit),
            KyFordringTilIndbetaling,
            municipality=municipality,
            fordring_uuid=fordring_uuid,
        )
        async with self.rt.db.session() as s:
            rows = (await s.scalars(stmt)).all()
        return [
            {
                "id": r.id,
                "municipality": r.municipality,
                "fordring_uuid": r.fordring_uuid,
                "authorities": r.authorities,
                "period_from": _iso(r.period_from),
                "period_to": _iso(r.period_to),
                "besked_id": r.besked_id,
                "received_at": r.received_at.isoformat(),
            }
            for r in rows
        ]

    async def counts(self) -> dict[str, int]:
        async with self.rt.db.session() as s:
            return {
                "accounts": await s.scalar(select(func.count()).select_from(KyAccount)) or 0,
                "postings": await s.scalar(select(func.count()).select_from(KyPosting)) or 0,
            }


def _newest_first(model, before: int | None, limit: int):
    """A keyset page of a ledger listing: newest first, rows older than the `before` id (the last id of the
    previous page)."""
    stmt = select(model).order_by(model.id.desc()).limit(limit)
    return stmt if before is None else stmt.where(model.id < before)


def _posting(p: KyPosting) -> dict[str, Any]:
    return {
        "id": p.id,
        "uuid": p.posting_uuid,
        "kind": p.kind,
        "municipality": p.municipality,
        "claim_uuid": p.claim_uuid,
        "subclaim_uuid": p.subclaim_uuid,
        "payment_uuid": p.payment_uuid,
        "amount": x.kroner(p.amount),
        "date": p.on_date.isoformat(),
        "reason": p.reason,
        "exchange_id": p.exchange_id,
        "created_at": p.created_at.isoformat(),
    }


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value else None


def _el(ns: str, name: str, value: str) -> etree._Element:
    el = etree.Element(f"{{{ns}}}{name}")
    el.text = value
    return el


def _party_el(parent: etree._Element, name: str, party: dict[str, Any]) -> None:
    p = etree.SubElement(parent, f"{{{DEBITOR_NS}}}{name}")
    x.opt(p, DEBITOR_NS, "CPR", party.get("cpr"))
    x.opt(p, DEBITOR_NS, "CVR", party.get("cvr"))
    x.opt(p, DEBITOR_NS, "Navn", party.get("name"))


def _remote_account(el: etree._Element) -> dict[str, Any]:
    """A DebitorkontoDetalje from LaesDebitorkonto as a dict."""
    D = DEBITOR_NS  # noqa: N806
    claims = []
    for f in el.iterfind(f"{{{D}}}Fordring"):
        postings = [
            {
                "uuid": x.d(p, "PosteringUUID"),
                "kind": x.d(p, "Art"),
                "amount": x.d(p, "Beloeb"),
                "subclaim_uuid": x.d(p, "DelfordringUUID", required=False),
                "payment_uuid": x.d(p, "IndbetalingUUID", required=False),
                "date": x.d(p, "Dato"),
                "reason": x.d(p, "Begrundelse", required=False),
            }
            for p in f.iterfind(f"{{{D}}}Postering")
        ]
        payments = [
            {"uuid": x.d(p, "IndbetalingUUID"), "amount": x.d(p, "Beloeb"), "date": x.d(p, "Valoerdato")}
            for p in f.iterfind(f"{{{D}}}Indbetaling")
        ]
        claims.append(
            {
                "uuid": x.d(f, "FordringUUID"),
                "state": x.d(f, "Tilstand"),
                "amount": x.d(f, "Beloeb"),
                "outstanding": x.d(f, "Restbeloeb"),
                "payments": payments,
                "postings": postings,
                "subclaims": [
                    {"uuid": x.d(s, "DelfordringUUID"), "amount": x.d(s, "Beloeb")}
                    for s in f.iterfind(f"{{{D}}}Delfordring")
                ],
            }
        )
    debitor = el.find(f"{{{D}}}Debitor")
    return {
        "uuid": x.d(el, "DebitorkontoUUID"),
        "status": x.d(el, "Status"),
        "debitor": {"cpr": x.d(debitor, "CPR", required=False), "cvr": x.d(debitor, "CVR", required=False)},
        "liabilities": [
            {"uuid": x.d(h, "HaeftelseUUID"), "role": x.d(h, "Rolle"), "valid_to": x.d(h, "GyldigTil", required=False)}
            for h in el.iterfind(f"{{{D}}}Haeftelse")
        ],
        "claims": claims,
        "outstanding": x.d(el, "Restbeloeb"),
    }
