"""B_03 ``DebitorIndbetalingAfsend`` (checklist item 1c): KY pays on claims and asks what is payable.

What a vendor learns here: a payment (``ForetagIndbetaling``) is received once (a repeated
IndbetalingUUID is answered, not booked again), refused if it is more than is outstanding, and covers
the sub-claims from it (one ``Daekning`` posting per sub-claim). Those coverages are what the debtor
system reports back to KY (1d, ``outgoing.py``); a claim still open after the payment is announced
as ``FordringTilIndbetaling`` (1e) through the outbox.

Every handler has the signature ``(cvr, books, payload, ns, resp) -> Begrundelse`` (see ``system.py``).
"""

from __future__ import annotations

from lxml import etree

from examples.reference_debtor.soap import D, Refused, day, kr, oere, party, sub, text
from examples.reference_debtor.state import Books, TilIndbetaling


def foretag_indbetaling(cvr: str, books: Books, payload: etree._Element, ns: str, resp: etree._Element) -> str:
    """Receive a payment on a claim (or one of its sub-claims) and cover the claim from it."""
    ib = payload.find(f"{{{ns}}}Indbetaling")
    if ib is None:
        raise Refused("DEB-007", "Indbetaling is missing")
    pid = text(ib, D, "IndbetalingUUID")
    c = books.claim(text(ib, D, "FordringUUID"))
    subclaim = text(ib, D, "DelfordringUUID", False)
    amount = oere(text(ib, D, "Beloeb"))
    if any(p["uuid"] == pid for p in c.payments):
        return f"payment {pid} was already received"
    if amount <= 0 or amount > c.outstanding(subclaim):  # (an unknown sub-claim is refused by outstanding)
        raise Refused(
            "DEB-006", f"{kr(amount)} is not between 0 and what is outstanding ({kr(c.outstanding(subclaim))})"
        )
    on = day(text(ib, D, "Valoerdato"))
    c.payments.append({"uuid": pid, "amount": amount, "date": on, "subclaim": subclaim})
    c.book("Daekning", amount, on=on, subclaim=subclaim, payment_uuid=pid, reason="dækning fra indbetaling")
    if c.outstanding() > 0 and c.payable:
        # 1e: the claim is still open for payment (by the municipality, through KY), as of this payment
        acc = books.accounts.get(c.account_uuid)
        debitor = dict(acc.debitor) if acc else {}
        books.outbox.append(TilIndbetaling(c.uuid, c.account_uuid, debitor, on, c.outstanding()))
    return f"payment {pid} of {kr(amount)} received and covered"


def soeg_delfordring_til_indbetaling(
    cvr: str, books: Books, payload: etree._Element, ns: str, resp: etree._Element
) -> str:
    """The sub-claims open for payment, of one account and/or one debtor (neither: all)."""
    account = text(payload, ns, "DebitorkontoUUID", False)
    want = party(payload.find(f"{{{ns}}}Part"))
    n = 0
    for a in books.accounts.values():
        if (account and a.uuid != account) or (want and not a.belongs_to(want)):
            continue
        for c in a.claims.values():
            if not c.payable:
                continue
            for s in c.subclaims:
                rest = c.outstanding(s["uuid"])
                if rest <= 0:
                    continue
                el = sub(resp, ns, "DelfordringTilIndbetaling")
                sub(el, D, "DebitorkontoUUID", a.uuid)
                sub(el, D, "FordringUUID", c.uuid)
                sub(el, D, "DelfordringUUID", s["uuid"])
                sub(el, D, "Restbeloeb", kr(rest))
                sub(el, D, "Forfaldsdato", c.due)
                n += 1
    return f"{n} sub-claim(s) open for payment"
