"""B_01 ``DebitorRegistreringAfsend`` (checklist item 1a): KY registers and changes debtor accounts.

What a vendor learns here: how each registration operation reads its request, checks it against the
books (refusing with a DEB code before it changes anything), records it, and says what it did in the
receipt's Begrundelse. Accepting an ``OpretDebitorkonto`` makes the account active in this debtor
system, which KY must hear about through the Beskedfordeler (1e): the handler puts a
:class:`~examples.reference_debtor.state.Statusskift` in the outbox.

Every handler has the signature ``(cvr, books, payload, ns, resp) -> Begrundelse`` (see ``system.py``).
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

from lxml import etree

from examples.reference_debtor.soap import D, Refused, day, oere, party, text
from examples.reference_debtor.state import Account, Books, Claim, Posting, Statusskift


def opret_debitorkonto(cvr: str, books: Books, payload: etree._Element, ns: str, resp: etree._Element) -> str:
    """A new account with its liabilities (Haeftelse) and claims (Fordring, each with its Delfordringer)."""
    k = payload.find(f"{{{ns}}}Debitorkonto")
    if k is None:
        raise Refused("DEB-007", "Debitorkonto is missing")
    uid = text(k, D, "DebitorkontoUUID")
    if uid in books.accounts:
        raise Refused("DEB-001", f"debtor account {uid} exists")
    h = k.find(f"{{{D}}}Hovedoplysninger")
    acc = Account(
        uuid=uid,
        kind=text(h, D, "DebitorkontoType"),
        version=int(text(h, D, "Version")),
        debitor=party(k.find(f"{{{D}}}Debitor")),
    )
    for he in k.iterfind(f"{{{D}}}Haeftelse"):
        acc.liabilities.append(
            {
                "uuid": text(he, D, "HaeftelseUUID"),
                "role": text(he, D, "Rolle"),
                "party": party(he.find(f"{{{D}}}Part")),
                "valid_from": text(he, D, "GyldigFra"),
                "valid_to": text(he, D, "GyldigTil", False),
            }
        )
    claims = []
    for f in k.iterfind(f"{{{D}}}Fordring"):
        c = Claim(
            uuid=text(f, D, "FordringUUID"),
            account_uuid=uid,
            fordringstype=text(f, D, "FordringstypeUUID"),
            amount=oere(text(f, D, "Beloeb")),
            due=day(text(f, D, "Forfaldsdato")),
            state=text(f, D, "Tilstand", False) or "Aktiv",
        )
        c.subclaims = [
            {"uuid": text(s, D, "DelfordringUUID"), "amount": oere(text(s, D, "Beloeb"))}
            for s in f.iterfind(f"{{{D}}}Delfordring")
        ]
        if c.uuid in books.claims:
            raise Refused("DEB-001", f"claim {c.uuid} exists")
        claims.append(c)
    for c in claims:
        acc.claims[c.uuid] = c
        books.claims[c.uuid] = c
    books.accounts[uid] = acc
    # 1e: tell KY (through the Beskedfordeler) that the account is active in this debtor system
    books.outbox.append(Statusskift(uid, dict(acc.debitor), "oprettet", acc.status, datetime.now(UTC)))
    return f"debtor account {uid} registered with {len(claims)} claim(s)"


def ret_fordring_tilstand(cvr: str, books: Books, payload: etree._Element, ns: str, resp: etree._Element) -> str:
    """A claim's new state (Tilstand), with an optional down-adjustment (Nedregulering) KY booked."""
    acc = books.account(text(payload, ns, "DebitorkontoUUID"))
    c = books.claim(text(payload, ns, "FordringUUID"))
    if c.account_uuid != acc.uuid:
        raise Refused("DEB-004", f"claim {c.uuid} is not on account {acc.uuid}")
    amount = text(payload, ns, "NedreguleringBeloeb", False)
    if amount:
        value = oere(amount)
        if value > c.outstanding():
            raise Refused("DEB-006", "the down-adjustment is above what is outstanding")
        c.postings.append(
            Posting(
                uuid=text(payload, ns, "NedreguleringUUID", False) or str(uuid.uuid4()),
                art="Nedregulering",
                claim_uuid=c.uuid,
                amount=value,
                on=date.today(),
                reason=text(payload, ns, "Begrundelse", False),
                reported="KY",
            )
        )
    c.state = text(payload, ns, "Tilstand")
    return f"claim {c.uuid} is now {c.state}"


def afslut_haeftelse(cvr: str, books: Books, payload: etree._Element, ns: str, resp: etree._Element) -> str:
    """End a liability (any role) on a given date."""
    return _afslut(books, payload, ns, None)


def afslut_administrator(cvr: str, books: Books, payload: etree._Element, ns: str, resp: etree._Element) -> str:
    """End an administrator's liability on a given date."""
    return _afslut(books, payload, ns, "Administrator")


def _afslut(books: Books, payload: etree._Element, ns: str, role: str | None) -> str:
    acc = books.account(text(payload, ns, "DebitorkontoUUID"))
    hid = text(payload, ns, "HaeftelseUUID")
    lb = next((h for h in acc.liabilities if h["uuid"] == hid and (role is None or h["role"] == role)), None)
    if lb is None:
        raise Refused("DEB-005", f"no {'liability' if role is None else role} {hid} on account {acc.uuid}")
    lb["valid_to"] = text(payload, ns, "GyldigTil")
    return f"{lb['role']} {hid} ends {lb['valid_to']}"
