"""The readiness items that reconcile the debtor system with KY's ledger (1b, 1c, 1d, 1e): they read the
run's recorded exchanges and messages and KY's ledger (``LedgerViews`` through ``KyActions``) and return the
:class:`~simulator.scenarios.reconcile.Difference` list of each item, with the evidence it used.
docs/scenarios.md lists each check and the ledger value it reconciles against."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from simulator.capabilities import BeskedTypes, KyActions
from simulator.runtime import CALL_SCOPE
from simulator.scenarios import reconcile as rc
from simulator.scenarios import xmlmatch as xm
from simulator.scenarios.engine import wait_for_exchange
from simulator.scenarios.reconcile import Difference
from simulator.soap.envelope import parse_envelope
from simulator.traffic import ExchangeFilter

if TYPE_CHECKING:
    from simulator.runtime import Runtime
    from simulator.scenarios.engine import ScenarioRun

RETURN_SERVICE = "DaekningAfskrivningRegistreringAfsend"
RECEIVE_SERVICE = "BeskedModtag"
STATUSSKIFT, TIL_INDBETALING = "DebitorkontoStatusskift", "FordringTilIndbetaling"


@dataclass
class Found:
    """What one check found: differences, the exchanges/messages it read, and the debtor's own refusals."""

    differences: list[Difference] = field(default_factory=list)
    evidence: list[dict[str, Any]] = field(default_factory=list)
    fejl: list[dict[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


_ts = rc.utc


def _claims(ledger: dict) -> set[str]:
    return {c["uuid"] for c in ledger["claims"]}


class LedgerChecks:
    def __init__(
        self, rt: Runtime, run: ScenarioRun, system: str | None, within_s: float, window_days: float | None
    ) -> None:
        self.rt = rt
        self.run = run
        self.cvr = run.municipality
        self.system = system
        self.within_s = within_s
        self.window_days = window_days
        self.window_start = (
            datetime.now(UTC) - timedelta(days=window_days) if window_days else None
        )  # write-off evidence may be this old
        self.ledger = rt.find(KyActions)
        self.steps = {s.id: s for s in run.result.steps if s.id}
        self.account = run.vars.get("account", "")
        self.flagged: set[str] = set()  # BeskedIds of status messages that contradict the ledger

    def passed(self, step_id: str) -> bool:
        s = self.steps.get(step_id)
        return s is not None and s.passed

    async def _row(self, step_id: str) -> dict[str, Any] | None:
        s = self.steps.get(step_id)
        if s is None or not s.exchanges:
            return None
        return await self.rt.exchanges.get(s.exchanges[-1]["id"])

    async def _account(self) -> dict:
        return await self.ledger.account(self.account)

    # -- 1b ---------------------------------------------------------------------------------------------

    async def queries(self) -> Found:
        """SoegDebitorkonto lists every account the ledger has for the debtor in this municipality, and it and
        LaesDebitorkonto answer what the ledger's accounts were when KY asked."""
        out = Found()
        if self.ledger is None:
            return out
        acc = await self._account()
        who = {k: v for k, v in acc["debitor"].items() if k in ("cpr", "cvr")}
        for step_id in ("search", "read"):
            row = await self._row(step_id) if self.passed(step_id) else None
            if row is None:
                continue
            at, doc = _ts(row["started_at"]), xm.payload_of(row.get("response_body"))
            if step_id == "read":
                views = [rc.ledger_as_of(acc, at, ignore=self.flagged)]
                out.differences += rc.compare_account(doc, views[0], row["id"])
            else:
                accounts = await self.ledger.accounts(municipality=self.cvr, **who)
                views = [rc.ledger_as_of(a, at, ignore=self.flagged) for a in accounts if rc.utc(a["created_at"]) <= at]
                for view in views:
                    out.differences += rc.compare_overview(doc, view, row["id"])
            out.evidence.append(
                {"exchange": row["id"], "compared_with": "KY's ledger", "ledger": [_brief(v) for v in views]}
            )
        return out

    # -- 1c ---------------------------------------------------------------------------------------------

    async def payment(self, known: set[str] = frozenset()) -> Found:
        """After KY's payment: the coverage names the paid claim and amount, and then the debtor system and the
        ledger agree on what is outstanding (LaesDebitorkonto again). Fields in ``known`` differed before the
        payment already (1b): they are not waited for nor reported again."""
        out = Found()
        if self.ledger is None or not self.passed("pay"):
            return out
        acc = await self._account()
        payment = self.run.vars.get("payment")
        paid = next(
            (p for c in acc["claims"] for p in c["postings"] if p["kind"] == "indbetaling" and p["uuid"] == payment),
            None,
        )
        if paid is None:
            out.differences.append(Difference("ForetagIndbetaling", f"payment {payment} in KY's ledger", rc.MISSING))
            return out
        # the coverage step waited already; when nothing came, there is nothing more to wait for
        deadline = time.monotonic() + (self.within_s if self.passed("coverage") else 0)

        def covered(a: dict) -> dict[str, int]:
            return {
                c["uuid"]: sum(rc.oere(p["amount"]) for p in c["postings"] if p["kind"] == "daekning")
                for c in a["claims"]
            }

        seen: set[str] = set()
        while sum(covered(acc).values()) < rc.oere(paid["amount"]) and await self._next_return(deadline, seen):
            acc = await self._account()
        by_claim = covered(acc)
        for uid, amount in sorted(by_claim.items()):
            expected = rc.oere(paid["amount"]) if uid == paid["claim_uuid"] else 0
            if amount != expected:
                what = "coverage of KY's payment" if expected else "coverage (KY paid nothing on this claim)"
                out.differences.append(
                    Difference(
                        f"RegistrerDaekning Fordring[{uid}] Beloeb (sum)",
                        f"{rc.kroner(expected)} ({what} {payment})" if expected else f"0.00 ({what})",
                        rc.kroner(amount) if amount else f"none within {self.within_s:g}s",
                    )
                )
        out.evidence += [
            {
                "posting": p["uuid"],
                "kind": p["kind"],
                "claim": c["uuid"],
                "amount": p["amount"],
                "exchange": p["exchange_id"],
            }
            for c in acc["claims"]
            for p in c["postings"]
            if p["kind"] in ("indbetaling", "daekning")
        ]
        if self.passed("read"):
            await self._reread(out, deadline, known)
        else:
            out.notes.append("not re-read: LaesDebitorkonto did not pass (item 1b)")
        return out

    async def _next_return(self, deadline: float, seen: set[str]) -> bool:
        """Wait for the next call of the debtor system to KY's return service (False: none until the deadline)."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False

        def new(row: dict[str, Any]) -> bool:
            return row["id"] not in seen and row.get("municipality") in (self.cvr, None)

        row = await wait_for_exchange(self.rt, new, service=RETURN_SERVICE, since=self.run.since, timeout=remaining)
        if row is None:
            return False
        seen.add(row["id"])
        return True

    async def _reread(self, out: Found, deadline: float, known: set[str]) -> None:
        """LaesDebitorkonto until the outstanding amounts agree with the ledger, or no further coverage or
        write-off arrives before the deadline."""
        seen = {
            r["id"] for r in await self.rt.exchanges.rows(ExchangeFilter(service=RETURN_SERVICE, since=self.run.since))
        }
        while True:
            token = CALL_SCOPE.set(self.run.scope(with_target=True))
            try:
                sent = (await self.ledger.read_remote_account(self.account, municipality=self.cvr))["sent"]
            finally:
                CALL_SCOPE.reset(token)
            row = await self.rt.exchanges.get(sent["exchange_id"])
            doc = xm.payload_of(row.get("response_body")) if row else None
            view = rc.ledger_as_of(await self._account())
            diffs = (
                rc.compare_account(doc, view, sent["exchange_id"], amounts_only=True)
                if sent["accepted"]
                else [
                    Difference("LaesDebitorkonto after the coverage", "ACCEPTERET", _refusal(sent), sent["exchange_id"])
                ]
            )
            diffs = [d for d in diffs if d.field not in known]
            out.fejl = rc.receipt_errors(doc) or out.fejl
            if not diffs or not await self._next_return(deadline, seen):
                break
        out.differences += diffs
        out.evidence.append({"exchange": sent["exchange_id"], "reread": True, "ledger": _brief(view)})

    # -- 1d ---------------------------------------------------------------------------------------------

    async def returns(self) -> Found:
        """Every coverage/write-off the debtor system sent about this run's claims was accepted and booked by
        KY, and at least one coverage and one write-off are booked (this run, or the evidence window)."""
        out = Found()
        if self.ledger is None:
            return out
        acc = await self._account()
        booked = {p["exchange_id"]: p for c in acc["claims"] for p in c["postings"] if p["exchange_id"]}
        rows = [
            r
            for r in await self.rt.exchanges.rows(ExchangeFilter(service=RETURN_SERVICE, since=self.run.since))
            if _claims(acc) & set(xm.select(xm.payload_of(r.get("request_body")), "//FordringUUID"))
        ]
        service = self.rt.routes.services.get(RETURN_SERVICE)
        contract = self.rt.pipeline.contract_for(service) if service is not None else None
        for r in rows:
            op = r.get("operation") or "?"
            doc = xm.payload_of(r.get("response_body"))
            out.evidence.append(
                {"exchange": r["id"], "operation": op, "status": r.get("status"), "booked": r["id"] in booked}
            )
            if r["id"] not in booked:
                errs = rc.receipt_errors(doc)
                out.fejl += errs
                got = "; ".join(f"{e['FejlKode']}: {e['FejlTekst']}" for e in errs) or (
                    f"{r.get('fault_code')}: {r.get('reason')}" if r.get("fault_code") else "not booked"
                )
                out.differences.append(Difference(f"{op} booked by KY", "ACCEPTERET and booked", got, r["id"]))
            if contract is not None and r.get("request_body"):
                try:
                    payload = parse_envelope(
                        r["request_body"].encode() if isinstance(r["request_body"], str) else r["request_body"]
                    ).payload
                except Exception:  # noqa: BLE001 - the platform refused it already; the row says why
                    payload = None
                problems = contract.validate_request(payload) if payload is not None else []
                if problems:
                    out.differences.append(
                        Difference(
                            f"{op} request (strict validation)",
                            "valid under the SF1590 contract",
                            "; ".join(problems[:3]),
                            r["id"],
                        )
                    )
        for kind, op in (("daekning", "RegistrerDaekning"), ("afskrivning", "RegistrerAfskrivning")):
            here = [p for p in booked.values() if p["kind"] == kind]
            if here:
                out.notes.append(f"{op}: booked in this run ({here[0]['exchange_id']})")
                continue
            earlier = await self._in_window(kind)
            if earlier is not None:
                out.notes.append(
                    f"{op}: booked {earlier['created_at']} (exchange {earlier['exchange_id']}), in the evidence window"
                )
                out.evidence.append({"exchange": earlier["exchange_id"], "kind": kind, "evidence_window": True})
                continue
            if kind == "afskrivning":
                here = await self._wait_write_off(acc)
                if here:
                    out.notes.append(f"{op}: booked in this run ({here[0]['exchange_id']})")
                    continue
            since = f"since {self.window_start.isoformat(timespec='seconds')}" if self.window_start else "in this run"
            out.differences.append(
                Difference(f"{op} booked by KY", f"at least one, for municipality {self.cvr} {since}", "none")
            )
        return out

    async def _wait_write_off(self, acc: dict) -> list[dict]:
        """A write-off of this run's claims, if the debtor system sends one within the run's time limit."""
        claims = _claims(acc)

        def write_off(row: dict[str, Any]) -> bool:
            return row.get("operation") == "RegistrerAfskrivning" and bool(
                claims & set(xm.select(xm.payload_of(row.get("request_body")), "//FordringUUID"))
            )

        row = await wait_for_exchange(
            self.rt, write_off, service=RETURN_SERVICE, since=self.run.since, timeout=self.within_s
        )
        if row is None:
            return []
        acc = await self._account()
        return [p for c in acc["claims"] for p in c["postings"] if p["exchange_id"] == row["id"]]

    async def _in_window(self, kind: str) -> dict | None:
        """The newest posting of ``kind`` booked for the municipality from this debtor system in the window."""
        if self.window_start is None:
            return None
        system = self.rt.routes.systems.get(self.system or "")
        for p in await self.ledger.postings(municipality=self.cvr, kind=kind, limit=200):
            if _ts(p["created_at"]) < self.window_start:
                break
            row = await self.rt.exchanges.get(p["exchange_id"]) if p["exchange_id"] else None
            if row is not None and system is not None and row.get("system_uuid") == system.uuid:
                return p
        return None

    # -- 1e ---------------------------------------------------------------------------------------------

    async def messages(self) -> Found:
        """Both message types accepted (20), delivered to KY and recorded there, their content consistent with
        the ledger."""
        out = Found()
        if self.ledger is None:
            return out
        for step_id, name in (("status_message", STATUSSKIFT), ("claim_message", TIL_INDBETALING)):
            row = await self._row(step_id) if self.passed(step_id) else None
            if row is None:
                continue
            data = rc.message_fields(xm.payload_of(row.get("request_body")))
            besked = data.get("BeskedId") or "?"
            out.evidence.append({"besked": row["id"], "beskedtype": name, "besked_id": besked, "fields": data})
            at = _ts(row["started_at"])
            acc = await self._account()
            view = rc.ledger_as_of(acc, at)
            if name == STATUSSKIFT:
                diffs = rc.compare_statusskift(data, self.cvr, view, row["id"])
                if any(d.field.endswith("/Status") for d in diffs):
                    self.flagged.add(besked)
            else:
                diffs = rc.compare_til_indbetaling(
                    data,
                    self.cvr,
                    view,
                    _expected_open(acc, data.get("FordringUUID"), at, await self._paid_before(acc, at)),
                    row["id"],
                )
            out.differences += diffs
            receiver = self.ky_receiver(name)
            if receiver is not None:
                out.differences.append(
                    Difference(f"{name} {besked} delivered to KY", "delivered to KY and recorded", receiver, row["id"])
                )
                continue
            if not await self._recorded(name, data, besked):
                out.differences.append(
                    Difference(
                        f"{name} {besked} recorded by KY",
                        "in KY's status history" if name == STATUSSKIFT else "among KY's claims open for payment",
                        f"not recorded within {self.within_s:g}s",
                        row["id"],
                    )
                )
        return out

    async def _paid_before(self, acc: dict, at: datetime) -> set[str]:
        """KY's payments on the account whose ForetagIndbetaling call started before ``at`` (KY books a payment
        once the debtor system answered, and the debtor system may announce the claim before that)."""
        out = set()
        for c in acc["claims"]:
            for p in c["postings"]:
                if p["kind"] != "indbetaling":
                    continue
                row = await self.rt.exchanges.get(p["exchange_id"]) if p["exchange_id"] else None
                if _ts(row["started_at"] if row else p["created_at"]) <= at:
                    out.add(p["payment_uuid"])
        return out

    def ky_receiver(self, name: str) -> str | None:
        """Why KY cannot receive a message type of this municipality (None: it can)."""
        ky = next((s.key for s in self.rt.routes.systems.values() if s.kind == "ky"), None)
        types = self.rt.find(BeskedTypes)
        uid = types.beskedtype_uuid(name) if types is not None else None
        for a in self.rt.routes.agreements_for(ky or "", self.cvr, RECEIVE_SERVICE):
            covered = {(types.beskedtype_uuid(t) if types else None) or t for t in (a.beskedtyper or [])}
            if covered & {uid, name, "*"}:
                return None
        return (
            f"reached nobody: KY ({ky or 'no system of kind ky'}) has no {RECEIVE_SERVICE} agreement for "
            f"municipality {self.cvr} and beskedtype {name}"
        )

    async def _recorded(self, name: str, data: dict[str, Any], besked: str) -> bool:
        deadline = time.monotonic() + self.within_s
        while True:
            if name == STATUSSKIFT:
                rows = await self.ledger.status_changes(account_uuid=data.get("DebitorkontoUUID") or self.account)
            else:
                rows = await self.ledger.fordringer_til_indbetaling(fordring_uuid=data.get("FordringUUID"))
            if any(r.get("besked_id") == besked for r in rows):
                return True
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.05)  # KY's receiver records in its own task; poll its books until the deadline


def _expected_open(acc: dict, claim_uuid: str | None, at: datetime, payments: set[str]) -> str | None:
    """What the ledger has outstanding on a claim once the ``payments`` KY made until ``at`` are covered:
    postings booked until then, and coverages (booked later too) of those payments or naming none."""
    claim = next((c for c in acc["claims"] if c["uuid"] == claim_uuid), None)
    if claim is None:
        return None
    total = rc.oere(claim["amount"])
    for p in claim["postings"]:
        early = _ts(p["created_at"]) <= at
        covers = p["kind"] == "daekning" and (p["payment_uuid"] in payments or p["payment_uuid"] is None)
        if early or covers:
            total += rc.EFFECT.get(p["kind"], 0) * rc.oere(p["amount"])
    return rc.kroner(total)


def _refusal(sent: dict[str, Any]) -> str:
    k = sent.get("kvittering") or {}
    if sent.get("fault"):
        return f"{sent['fault']['code']}: {sent['fault']['text']}"
    return " ".join(str(v) for v in (k.get("status"), k.get("begrundelse")) if v) or "not ACCEPTERET"


def _brief(view: dict) -> dict[str, Any]:
    return {
        "account": view["uuid"],
        "status": view["status"],
        "outstanding": view["outstanding"],
        "claims": {u: {"amount": c["amount"], "outstanding": c["outstanding"]} for u, c in view["claims"].items()},
    }
