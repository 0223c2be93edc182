"""KY's recorded requests read back into the KY ledger actions (and their arguments) that made them: what a
recorded ``ky`` step replays."""

from __future__ import annotations

from typing import Any

from lxml import etree


def _t(el: etree._Element | None, path: str) -> str | None:
    if el is None:
        return None
    found = el.find(path)
    return (found.text or "").strip() or None if found is not None else None


def _clean(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v not in (None, "", [], {})}


def _party(el: etree._Element | None) -> dict[str, Any]:
    return _clean({"cpr": _t(el, "CPR"), "cvr": _t(el, "CVR"), "name": _t(el, "Navn")})


def ky_args(operation: str, p: etree._Element) -> tuple[str, dict[str, Any]] | None:
    """(ledger action, arguments) of a KY request (namespace-free payload), or None for other operations."""
    if operation == "OpretDebitorkonto":
        k = p.find("Debitorkonto")
        if k is None:
            return None
        claims = []
        for f in k.findall("Fordring"):
            claims.append(
                _clean(
                    {
                        "uuid": _t(f, "FordringUUID"),
                        "fordringstype": _t(f, "FordringstypeUUID"),
                        "amount": _t(f, "Beloeb"),
                        "period_from": _t(f, "PeriodeFra"),
                        "period_to": _t(f, "PeriodeTil"),
                        "due_date": _t(f, "Forfaldsdato"),
                        "last_payment_date": _t(f, "SidsteRettidigeBetalingsdato"),
                        "subclaims": [
                            _clean(
                                {
                                    "uuid": _t(s, "DelfordringUUID"),
                                    "amount": _t(s, "Beloeb"),
                                    "period_from": _t(s, "PeriodeFra"),
                                    "period_to": _t(s, "PeriodeTil"),
                                    "kontering": _t(s, "Kontering"),
                                }
                            )
                            for s in f.findall("Delfordring")
                        ],
                    }
                )
            )
        liabilities = [
            _clean(
                {
                    "uuid": _t(h, "HaeftelseUUID"),
                    "role": _t(h, "Rolle"),
                    **_party(h.find("Part")),
                    "valid_from": _t(h, "GyldigFra"),
                    "valid_to": _t(h, "GyldigTil"),
                }
            )
            for h in k.findall("Haeftelse")
        ]
        return "create_account", _clean(
            {
                "account_uuid": _t(k, "DebitorkontoUUID"),
                "kind": _t(k, "Hovedoplysninger/DebitorkontoType"),
                "debitor": _party(k.find("Debitor")),
                "liabilities": liabilities,
                "opkraevningsform": _t(k, "Opkraevning/Opkraevningsform"),
                "claims": claims,
            }
        )
    if operation == "ForetagIndbetaling":
        ib = p.find("Indbetaling")
        return "pay", _clean(
            {
                "claim_uuid": _t(ib, "FordringUUID"),
                "amount": _t(ib, "Beloeb"),
                "subclaim_uuid": _t(ib, "DelfordringUUID"),
                "value_date": _t(ib, "Valoerdato"),
                "payment_uuid": _t(ib, "IndbetalingUUID"),
            }
        )
    if operation == "RetFordringTilstand":
        return "change_claim_state", _clean(
            {
                "claim_uuid": _t(p, "FordringUUID"),
                "state": _t(p, "Tilstand"),
                "down_adjustment": _t(p, "NedreguleringBeloeb"),
                "reason": _t(p, "Begrundelse"),
            }
        )
    if operation in ("AfslutHaeftelse", "AfslutAdministrator"):
        return "end_liability", _clean(
            {
                "liability_uuid": _t(p, "HaeftelseUUID"),
                "valid_to": _t(p, "GyldigTil"),
                "reason": _t(p, "Begrundelse"),
            }
        )
    if operation == "SoegDebitorkonto":
        return "search_accounts", _party(p.find("Part"))
    if operation == "LaesDebitorkonto":
        return "read_account", _clean({"account_uuid": _t(p, "DebitorkontoUUID")})
    if operation == "SoegDelfordringTilIndbetaling":
        return "open_subclaims", _clean({"account_uuid": _t(p, "DebitorkontoUUID"), **_party(p.find("Part"))})
    return None
