"""A configurable test-double debtor system for the readiness matrix: correct, or wrong in ONE way at a time.

It is the reference debtor system's machinery (SOAP handling, books, outgoing calls) with its operations
wrapped, so each fault is a small, readable change of behaviour. Unlike the reference debtor it writes
off on its own during a run (the account's other claims, in full, when KY pays), so its correct form
passes readiness without earlier evidence. Every fault keeps the double's own books consistent with what
it says, so a fault shows up only where it belongs.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from enum import StrEnum

from lxml import etree

from examples.reference_debtor import forespoergsel, indbetaling, registrering
from examples.reference_debtor.soap import D, Refused, text
from examples.reference_debtor.state import Statusskift, TilIndbetaling
from examples.reference_debtor.system import DebtorSystem

WRITE_OFF_AARSAG = "Eftergivet"


class Fault(StrEnum):
    NONE = "correct"
    RESTBELOEB_OFF = "Restbeloeb off by 0.01"
    CLAIM_MISSING = "a claim missing from LaesDebitorkonto"
    SUBCLAIM_AMOUNT = "a sub-claim amount wrong"
    NEVER_COVERED = "payment acknowledged but never covered"
    COVER_WRONG_CLAIM = "coverage on the wrong claim"
    COVER_WRONG_AMOUNT = "coverage of a different amount"
    NO_WRITE_OFF = "no write-off ever sent"
    ONE_MESSAGE_TYPE = "only one of the two message types sent"
    STATUS_CONTRADICTS = "a status change whose status contradicts the ledger"
    NO_KY_AGREEMENT = "messages sent but KY has no receiving agreement"
    REFUSES_CLAIM_TYPES = "refusal of valid claim types"
    CONTRACT_VIOLATION = "a SOAP answer that violates the contract"


def _shift(el: etree._Element | None, delta: str) -> None:
    assert el is not None, "the answer has no such element"
    el.text = f"{Decimal(el.text) + Decimal(delta):.2f}"


def _account_el(resp: etree._Element) -> etree._Element:
    return next(el for el in resp if etree.QName(el).localname == "Debitorkonto")


def configure(debtor: DebtorSystem, fault: Fault) -> None:
    """Give the debtor system (``create_app(config).state.debtor``) the double's behaviour with ``fault``."""

    # -- 1a ----------------------------------------------------------------------------------------
    def opret(cvr, books, payload, ns, resp):
        if fault is Fault.REFUSES_CLAIM_TYPES:
            f = payload.find(f".//{{{D}}}FordringstypeUUID")
            raise Refused("DEB-010", f"fordringstype {f.text if f is not None else '?'} is not accepted")
        why = registrering.opret_debitorkonto(cvr, books, payload, ns, resp)
        if fault is Fault.STATUS_CONTRADICTS:  # the account is active in the books, the message says closed
            books.outbox[:] = [replace(e, status="lukket") if isinstance(e, Statusskift) else e for e in books.outbox]
        return why

    # -- 1b ----------------------------------------------------------------------------------------
    def laes(cvr, books, payload, ns, resp):
        why = forespoergsel.laes_debitorkonto(cvr, books, payload, ns, resp)
        acc = _account_el(resp)
        claims = acc.findall(f"{{{D}}}Fordring")
        if fault is Fault.RESTBELOEB_OFF:
            _shift(claims[0].find(f"{{{D}}}Restbeloeb"), "0.01")
        elif fault is Fault.CLAIM_MISSING:
            acc.remove(claims[-1])
        elif fault is Fault.SUBCLAIM_AMOUNT:
            _shift(claims[0].find(f"{{{D}}}Delfordring/{{{D}}}Beloeb"), "-1.00")
        elif fault is Fault.CONTRACT_VIOLATION:  # an element the contract does not have
            etree.SubElement(acc, f"{{{D}}}Bemaerkning").text = "not in the contract"
        return why

    # -- 1c, 1d, 1e ---------------------------------------------------------------------------------
    def betal(cvr, books, payload, ns, resp):
        why = indbetaling.foretag_indbetaling(cvr, books, payload, ns, resp)
        pid = text(payload.find(f"{{{ns}}}Indbetaling"), D, "IndbetalingUUID")
        claim = next(c for c in books.claims.values() if any(p["uuid"] == pid for p in c.payments))
        acc = books.accounts[claim.account_uuid]
        others = [c for c in acc.claims.values() if c.uuid != claim.uuid]
        coverage = next(p for p in claim.postings if p.payment_uuid == pid and p.art == "Daekning")
        if fault is Fault.NEVER_COVERED:
            claim.postings.remove(coverage)
        elif fault is Fault.COVER_WRONG_CLAIM and others:
            claim.postings.remove(coverage)
            other = others[0]
            coverage.claim_uuid, coverage.subclaim_uuid = other.uuid, other.subclaims[0]["uuid"]
            other.postings.append(coverage)
        elif fault is Fault.COVER_WRONG_AMOUNT:
            coverage.amount -= 1  # one øre less than KY paid
        # the double's own decision: the account's other claims are written off in full (1d in this run)
        if fault is not Fault.NO_WRITE_OFF:
            for other in others:
                if other.outstanding() > 0:
                    books.write_off(
                        other.uuid, other.outstanding(), subclaim=None, aarsag=WRITE_OFF_AARSAG, reason="test double"
                    )
        # what the books now say the paid claim has open (1e), consistent with the books
        books.outbox[:] = [
            replace(e, outstanding=claim.outstanding()) if isinstance(e, TilIndbetaling) else e for e in books.outbox
        ]
        if fault is Fault.ONE_MESSAGE_TYPE:
            books.outbox[:] = [e for e in books.outbox if not isinstance(e, TilIndbetaling)]
        return why

    debtor.op_OpretDebitorkonto = opret
    debtor.op_LaesDebitorkonto = laes
    debtor.op_ForetagIndbetaling = betal
