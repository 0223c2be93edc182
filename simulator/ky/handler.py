"""``builtin:ky``: KY's side of DaekningAfskrivningRegistreringAfsend (coverages and write-offs from
the debtor systems), answered with a Forretningskvittering (ACCEPTERET or AFVIST with a stable code)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lxml import etree

from simulator.ky import xml as x
from simulator.ky.booking import E_INVALID, Refusal
from simulator.ky.contracts import DEBITOR_NS, NS_DAEKNING
from simulator.ky.ledger import check_posting, posting_receipt
from simulator.serviceplatform.types import CommittedAnswer, RowFinisher
from simulator.soap.errors import ErrorCode, SoapFaultError
from simulator.soap.kvittering import Kvittering

if TYPE_CHECKING:
    from simulator.ky.ledger import KyLedger
    from simulator.serviceplatform import SoapCall

_ITEMS = {
    # operation: (element, id element, ledger kind)
    "RegistrerDaekning": ("Daekning", "DaekningUUID", "daekning"),
    "RegistrerAfskrivning": ("Afskrivning", "AfskrivningUUID", "afskrivning"),
}


def read_item(payload: etree._Element, operation: str) -> tuple[str, dict]:
    """The coverage or write-off in a request, as the ledger books it."""
    element, id_name, kind = _ITEMS[operation]
    el = payload.find(f"{{{NS_DAEKNING}}}{element}")
    if el is None:
        raise x.BadValue(f"{etree.QName(payload).localname} has no {element}")
    reason = x.d(el, "Begrundelse", required=False)
    if kind == "afskrivning":
        aarsag = x.d(el, "Aarsag")
        reason = f"{aarsag}: {reason}" if reason else aarsag
    item = {
        "uuid": x.d(el, id_name),
        "claim_uuid": x.d(el, "FordringUUID"),
        "subclaim_uuid": x.d(el, "DelfordringUUID", required=False),
        "payment_uuid": x.d(el, "IndbetalingUUID", required=False),
        "amount": x.amount_of(el, DEBITOR_NS, "Beloeb"),
        "date": x.date_of(el, DEBITOR_NS, "Dato"),
        "reason": reason,
    }
    return kind, item


def make_handler(ledger: KyLedger):
    async def handle(call: SoapCall) -> bytes | CommittedAnswer:
        op = call.operation.name
        if op not in _ITEMS:
            raise SoapFaultError(ErrorCode.UNKNOWN_OPERATION, f"KY does not serve {op} on {call.service.name}")
        try:
            kind, item = read_item(call.payload, op)
            check_posting(kind, item)
        except (x.BadValue, Refusal) as e:
            return x.response_envelope(NS_DAEKNING, op, _refusal(e))

        def answer(outcome: Any) -> bytes:
            try:
                k = posting_receipt(kind, item, outcome)
            except Refusal as e:
                k = _refusal(e)
            return x.response_envelope(NS_DAEKNING, op, k)

        async def commit(finish_row: RowFinisher) -> bytes:
            def finish(outcome: Any) -> tuple[bytes, dict[str, Any]]:
                body = answer(outcome)
                return body, finish_row(body)

            return await ledger.bookings.book(call.municipality, kind, item, call.exchange_id, finish=finish)

        return CommittedAnswer(commit)  # booked, answered and recorded in one transaction

    return handle


def _refusal(e: x.BadValue | Refusal) -> Kvittering:
    if isinstance(e, Refusal):
        return Kvittering("AFVIST", e.message, [(e.code, e.message)])
    return Kvittering("AFVIST", str(e), [(E_INVALID, str(e))])
