"""The SF1590 messages KY sends (request payloads, without the context elements the platform call adds) and
the debtor system's answers read back as dicts. Shapes: docs/contracts/sf1590.md."""

from __future__ import annotations

from datetime import date
from typing import Any

from lxml import etree

from simulator.ky import xml as x
from simulator.ky.contracts import DEBITOR_NS, NS_FORESPOERGSEL, NS_INDBETALING, NS_REGISTRERING

D = DEBITOR_NS


def request(ns: str, operation: str) -> etree._Element:
    """An empty ``<operation>Request`` in the service's namespace."""
    return etree.Element(f"{{{ns}}}{operation}Request", nsmap={"r": ns, "d": D})


def _el(parent: etree._Element, ns: str, name: str, value: object | None) -> None:
    if value not in (None, ""):
        x.sub(parent, ns, name, value)


def _party(parent: etree._Element, name: str, party: dict[str, Any], ns: str = D) -> None:
    p = etree.SubElement(parent, f"{{{ns}}}{name}")
    x.opt(p, D, "CPR", party.get("cpr"))
    x.opt(p, D, "CVR", party.get("cvr"))
    x.opt(p, D, "Navn", party.get("name"))


# -- B_01 DebitorRegistreringAfsend ------------------------------------------------------------------------


def opret_debitorkonto(acc: dict[str, Any]) -> etree._Element:
    """OpretDebitorkontoRequest for an account as the ledger's view shows it."""
    req = request(NS_REGISTRERING, "OpretDebitorkonto")
    konto = x.sub(req, NS_REGISTRERING, "Debitorkonto")
    x.sub(konto, D, "DebitorkontoUUID", acc["uuid"])
    h = x.sub(konto, D, "Hovedoplysninger")
    x.sub(h, D, "Version", acc["version"])
    x.sub(h, D, "DebitorkontoType", acc["kind"])
    x.sub(h, D, "EjerSystem", "KY")
    _party(konto, "Debitor", acc["debitor"])
    for lb in acc["liabilities"]:
        he = x.sub(konto, D, "Haeftelse")
        x.sub(he, D, "HaeftelseUUID", lb["uuid"])
        x.sub(he, D, "Rolle", lb["role"])
        _party(he, "Part", lb["party"])
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
    return req


def ret_fordring_tilstand(
    account_uuid: str,
    claim_uuid: str,
    state: str,
    *,
    down_adjustment: tuple[str, int] | None = None,
    reason: str | None = None,
) -> etree._Element:
    """RetFordringTilstandRequest; ``down_adjustment`` = (NedreguleringUUID, amount in øre)."""
    req = request(NS_REGISTRERING, "RetFordringTilstand")
    ns = NS_REGISTRERING
    x.sub(req, ns, "DebitorkontoUUID", account_uuid)
    x.sub(req, ns, "FordringUUID", claim_uuid)
    x.sub(req, ns, "Tilstand", state)
    if down_adjustment is not None:
        x.sub(req, ns, "NedreguleringUUID", down_adjustment[0])
        x.sub(req, ns, "NedreguleringBeloeb", x.kroner(down_adjustment[1]))
    _el(req, ns, "Begrundelse", reason)
    return req


def afslut(
    operation: str, account_uuid: str, liability_uuid: str, valid_to: date, reason: str | None
) -> etree._Element:
    """AfslutHaeftelseRequest / AfslutAdministratorRequest."""
    req = request(NS_REGISTRERING, operation)
    x.sub(req, NS_REGISTRERING, "DebitorkontoUUID", account_uuid)
    x.sub(req, NS_REGISTRERING, "HaeftelseUUID", liability_uuid)
    x.sub(req, NS_REGISTRERING, "GyldigTil", valid_to)
    _el(req, NS_REGISTRERING, "Begrundelse", reason)
    return req


# -- B_03 DebitorIndbetalingAfsend ---------------------------------------------------------------------------


def foretag_indbetaling(
    payment_uuid: str, claim_uuid: str, subclaim_uuid: str | None, amount: int, value_date: date, payer_cvr: str
) -> etree._Element:
    """ForetagIndbetalingRequest: KY pays ``amount`` øre on a claim (or one of its sub-claims)."""
    req = request(NS_INDBETALING, "ForetagIndbetaling")
    ib = x.sub(req, NS_INDBETALING, "Indbetaling")
    x.sub(ib, D, "IndbetalingUUID", payment_uuid)
    x.sub(ib, D, "FordringUUID", claim_uuid)
    x.opt(ib, D, "DelfordringUUID", subclaim_uuid)
    x.sub(ib, D, "Beloeb", x.kroner(amount))
    x.sub(ib, D, "Valoerdato", value_date)
    x.sub(ib, D, "IndbetalendeMyndighedCVR", payer_cvr)
    return req


def soeg_delfordring_til_indbetaling(account_uuid: str | None, cpr: str | None, cvr: str | None) -> etree._Element:
    req = request(NS_INDBETALING, "SoegDelfordringTilIndbetaling")
    _el(req, NS_INDBETALING, "DebitorkontoUUID", account_uuid)
    if cpr or cvr:
        _party(req, "Part", {"cpr": cpr, "cvr": cvr}, NS_INDBETALING)
    return req


def read_open_subclaims(payload: etree._Element | None) -> list[dict[str, Any]]:
    """The DelfordringTilIndbetaling items of a SoegDelfordringTilIndbetalingResponse."""
    if payload is None:
        return []
    return [
        {
            "account_uuid": x.d(el, "DebitorkontoUUID"),
            "claim_uuid": x.d(el, "FordringUUID"),
            "subclaim_uuid": x.d(el, "DelfordringUUID"),
            "outstanding": x.d(el, "Restbeloeb"),
            "due_date": x.d(el, "Forfaldsdato", required=False),
        }
        for el in payload.iterfind(f"{{{NS_INDBETALING}}}DelfordringTilIndbetaling")
    ]


# -- B_02 DebitorForespoergselAfsend -------------------------------------------------------------------------


def soeg_debitorkonto(cpr: str | None, cvr: str | None) -> etree._Element:
    req = request(NS_FORESPOERGSEL, "SoegDebitorkonto")
    _party(req, "Part", {"cpr": cpr, "cvr": cvr}, NS_FORESPOERGSEL)
    return req


def read_account_overviews(payload: etree._Element | None) -> list[dict[str, Any]]:
    """The Debitorkonto items of a SoegDebitorkontoResponse."""
    if payload is None:
        return []
    return [
        {
            "uuid": x.d(el, "DebitorkontoUUID"),
            "kind": x.d(el, "DebitorkontoType"),
            "status": x.d(el, "Status"),
            "outstanding": x.d(el, "Restbeloeb"),
        }
        for el in payload.iterfind(f"{{{NS_FORESPOERGSEL}}}Debitorkonto")
    ]


def laes_debitorkonto(account_uuid: str) -> etree._Element:
    req = request(NS_FORESPOERGSEL, "LaesDebitorkonto")
    x.sub(req, NS_FORESPOERGSEL, "DebitorkontoUUID", account_uuid)
    return req


def read_account(payload: etree._Element | None) -> dict[str, Any] | None:
    """The DebitorkontoDetalje of a LaesDebitorkontoResponse as a dict (None when it has none)."""
    el = payload.find(f"{{{NS_FORESPOERGSEL}}}Debitorkonto") if payload is not None else None
    if el is None:
        return None
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
    head = el.find(f"{{{D}}}Hovedoplysninger")
    return {
        "uuid": x.d(el, "DebitorkontoUUID"),
        "kind": x.d(head, "DebitorkontoType", required=False) if head is not None else None,
        "status": x.d(el, "Status"),
        "debitor": {"cpr": x.d(debitor, "CPR", required=False), "cvr": x.d(debitor, "CVR", required=False)},
        "liabilities": [
            {"uuid": x.d(h, "HaeftelseUUID"), "role": x.d(h, "Rolle"), "valid_to": x.d(h, "GyldigTil", required=False)}
            for h in el.iterfind(f"{{{D}}}Haeftelse")
        ],
        "claims": claims,
        "outstanding": x.d(el, "Restbeloeb"),
    }
