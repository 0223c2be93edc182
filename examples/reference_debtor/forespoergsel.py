"""B_02 ``DebitorForespoergselAfsend`` (checklist item 1b): KY asks what the debtor system holds.

What a vendor learns here: the answers are written after the receipt in the ``<Operation>Response``,
in the contract's order, with amounts as kroner and the outstanding amounts computed from the books
(``state.py``). ``LaesDebitorkonto`` is the read KY's readiness check compares field by field with its
own ledger: every claim, sub-claim, payment and posting, and the account's ``Restbeloeb``.

Every handler has the signature ``(cvr, books, payload, ns, resp) -> Begrundelse`` (see ``system.py``).
"""

from __future__ import annotations

from lxml import etree

from examples.reference_debtor.soap import D, kr, party, party_el, sub, text
from examples.reference_debtor.state import Books


def soeg_debitorkonto(cvr: str, books: Books, payload: etree._Element, ns: str, resp: etree._Element) -> str:
    """The accounts of a debtor (by CPR or CVR), with status and outstanding amount."""
    want = party(payload.find(f"{{{ns}}}Part"))
    found = [a for a in books.accounts.values() if a.belongs_to(want)]
    for a in found:
        el = sub(resp, ns, "Debitorkonto")
        sub(el, D, "DebitorkontoUUID", a.uuid)
        sub(el, D, "DebitorkontoType", a.kind)
        sub(el, D, "Status", a.status)
        sub(el, D, "Restbeloeb", kr(a.outstanding()))
    return f"{len(found)} account(s)"


def laes_debitorkonto(cvr: str, books: Books, payload: etree._Element, ns: str, resp: etree._Element) -> str:
    """One account in full."""
    a = books.account(text(payload, ns, "DebitorkontoUUID"))
    el = sub(resp, ns, "Debitorkonto")
    sub(el, D, "DebitorkontoUUID", a.uuid)
    h = sub(el, D, "Hovedoplysninger")
    sub(h, D, "Version", a.version)
    sub(h, D, "DebitorkontoType", a.kind)
    party_el(el, "Debitor", a.debitor)
    sub(el, D, "Status", a.status)
    for lb in a.liabilities:
        he = sub(el, D, "Haeftelse")
        sub(he, D, "HaeftelseUUID", lb["uuid"])
        sub(he, D, "Rolle", lb["role"])
        party_el(he, "Part", lb["party"])
        sub(he, D, "GyldigFra", lb["valid_from"])
        if lb.get("valid_to"):
            sub(he, D, "GyldigTil", lb["valid_to"])
    for c in a.claims.values():
        f = sub(el, D, "Fordring")
        sub(f, D, "FordringUUID", c.uuid)
        sub(f, D, "Tilstand", c.state)
        sub(f, D, "Beloeb", kr(c.amount))
        sub(f, D, "Restbeloeb", kr(c.outstanding()))
        for s in c.subclaims:
            de = sub(f, D, "Delfordring")
            sub(de, D, "DelfordringUUID", s["uuid"])
            sub(de, D, "Beloeb", kr(s["amount"]))
        for p in c.payments:
            ib = sub(f, D, "Indbetaling")
            sub(ib, D, "IndbetalingUUID", p["uuid"])
            sub(ib, D, "FordringUUID", c.uuid)
            if p.get("subclaim"):
                sub(ib, D, "DelfordringUUID", p["subclaim"])
            sub(ib, D, "Beloeb", kr(p["amount"]))
            sub(ib, D, "Valoerdato", p["date"])
        for p in c.postings:
            pe = sub(f, D, "Postering")
            sub(pe, D, "PosteringUUID", p.uuid)
            sub(pe, D, "Art", p.art)
            sub(pe, D, "FordringUUID", c.uuid)
            if p.subclaim_uuid:
                sub(pe, D, "DelfordringUUID", p.subclaim_uuid)
            if p.payment_uuid:
                sub(pe, D, "IndbetalingUUID", p.payment_uuid)
            sub(pe, D, "Beloeb", kr(p.amount))
            sub(pe, D, "Dato", p.on)
            if p.reason:
                sub(pe, D, "Begrundelse", p.reason)
    sub(el, D, "Restbeloeb", kr(a.outstanding()))
    return f"account {a.uuid}"
