"""Readiness reconciliation: what the debtor system says, compared field by field with KY's ledger.

The functions here are pure: they take a debtor answer (a SOAP payload with its namespaces removed, see
``xmlmatch.payload_of``) or a message, and the ledger's view (``simulator.ky.views.LedgerViews``), and
return the :class:`Difference` list (empty: they agree). Amounts compare as kroner with two decimals.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from lxml import etree

from simulator.ky.booking import EFFECT

MISSING = "(missing)"


@dataclass
class Difference:
    """One field where the debtor system and KY's ledger disagree."""

    field: str  # where, e.g. "LaesDebitorkonto Fordring[<uuid>]/Restbeloeb"
    expected: str  # KY's ledger (or the contract/rule)
    actual: str  # what the debtor system said or did
    source: str | None = None  # the exchange or message it comes from

    def __str__(self) -> str:
        return f"{self.field}: expected {self.expected}, actual {self.actual}"

    def as_dict(self) -> dict[str, Any]:
        return {"field": self.field, "expected": self.expected, "actual": self.actual, "source": self.source}


def money(value: Any) -> str:
    """An amount as kroner with two decimals ("1000" → "1000.00"); anything else as it is."""
    if value is None:
        return MISSING
    try:
        return f"{Decimal(str(value).strip()):.2f}"
    except (InvalidOperation, ValueError):
        return str(value)


def oere(value: Any) -> int:
    return int(Decimal(money(value)) * 100)


def kroner(oere_: int) -> str:
    return f"{Decimal(oere_) / 100:.2f}"


def _t(el: etree._Element | None, path: str) -> str | None:
    if el is None:
        return None
    found = el.find(path)
    return found.text.strip() if found is not None and found.text else None


def utc(value: str | datetime) -> datetime:
    """A time (or its ISO text) as an aware UTC time; a naive one (SQLite) is taken as UTC."""
    v = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return v if v.tzinfo else v.replace(tzinfo=UTC)


# -- the ledger's view at a moment -------------------------------------------------------------------


def ledger_as_of(account: dict[str, Any], at: datetime | None = None, *, ignore: set[str] = frozenset()) -> dict:
    """The ledger's account (``LedgerViews.account``) as it stood at ``at`` (None: now): postings booked
    until then, the status last set until then (status messages whose BeskedId is in ``ignore`` left out)."""

    def before(ts: str) -> bool:
        return at is None or utc(ts) <= at

    status = None
    for h in account["status_history"]:
        if before(h["at"]) and h.get("besked_id") not in ignore:
            status = h["status"]
    claims = {}
    for c in account["claims"]:
        rest = oere(c["amount"]) + sum(
            EFFECT.get(p["kind"], 0) * oere(p["amount"]) for p in c["postings"] if before(p["created_at"])
        )
        claims[c["uuid"]] = {
            "state": c["state"],
            "amount": money(c["amount"]),
            "outstanding": kroner(rest),
            "subclaims": {s["uuid"]: money(s["amount"]) for s in c["subclaims"]},
        }
    return {
        "uuid": account["uuid"],
        "kind": account["kind"],
        "status": status or account["status"],
        "debitor": account["debitor"],
        "liabilities": {lb["uuid"]: lb["role"] for lb in account["liabilities"]},
        "claims": claims,
        "outstanding": kroner(sum(oere(c["outstanding"]) for c in claims.values())),
    }


# -- 1b: SoegDebitorkonto / LaesDebitorkonto ---------------------------------------------------------


def _cmp(out: list[Difference], field: str, expected: Any, actual: Any, source: str | None, *, amount=False) -> None:
    e = money(expected) if amount else (MISSING if expected is None else str(expected))
    a = money(actual) if amount else (MISSING if actual is None else str(actual))
    if e != a:
        out.append(Difference(field, e, a, source))


def compare_overview(doc: etree._Element | None, ledger: dict, source: str | None) -> list[Difference]:
    """A SoegDebitorkonto answer against the ledger's account (``ledger_as_of``): the account is listed with
    the ledger's type, status and outstanding amount (``Restbeloeb``)."""
    out: list[Difference] = []
    where = f"SoegDebitorkonto Debitorkonto[{ledger['uuid']}]"
    entry = next(
        (
            d
            for d in (doc.iter("Debitorkonto") if doc is not None else [])
            if _t(d, "DebitorkontoUUID") == ledger["uuid"]
        ),
        None,
    )
    if entry is None:
        return [Difference(where, "listed", MISSING, source)]
    _cmp(out, f"{where}/DebitorkontoType", ledger["kind"], _t(entry, "DebitorkontoType"), source)
    _cmp(out, f"{where}/Status", ledger["status"], _t(entry, "Status"), source)
    _cmp(out, f"{where}/Restbeloeb", ledger["outstanding"], _t(entry, "Restbeloeb"), source, amount=True)
    return out


def compare_account(
    doc: etree._Element | None, ledger: dict, source: str | None, *, amounts_only=False
) -> list[Difference]:
    """A LaesDebitorkonto answer against the ledger's account (``ledger_as_of``): account, debtor, liabilities,
    claims (state, ``Beloeb``, ``Restbeloeb``), sub-claims (``Beloeb``) and the account's ``Restbeloeb``.
    ``amounts_only``: what is outstanding per claim and on the account, nothing else."""
    out: list[Difference] = []
    el = doc.find(".//Debitorkonto") if doc is not None else None
    where = f"LaesDebitorkonto Debitorkonto[{ledger['uuid']}]"
    if el is None:
        return [Difference(where, "the account", MISSING, source)]
    if not amounts_only:
        _cmp(out, f"{where}/DebitorkontoUUID", ledger["uuid"], _t(el, "DebitorkontoUUID"), source)
        _cmp(
            out,
            f"{where}/Hovedoplysninger/DebitorkontoType",
            ledger["kind"],
            _t(el, "Hovedoplysninger/DebitorkontoType"),
            source,
        )
        _cmp(out, f"{where}/Status", ledger["status"], _t(el, "Status"), source)
        for key, tag in (("cpr", "CPR"), ("cvr", "CVR")):
            if ledger["debitor"].get(key):
                _cmp(out, f"{where}/Debitor/{tag}", ledger["debitor"][key], _t(el, f"Debitor/{tag}"), source)
        said = {_t(h, "HaeftelseUUID"): _t(h, "Rolle") for h in el.iterfind("Haeftelse")}
        for uid, role in ledger["liabilities"].items():
            _cmp(out, f"{where}/Haeftelse[{uid}]/Rolle", role, said.get(uid), source)
    answered = {_t(f, "FordringUUID"): f for f in el.iterfind("Fordring")}
    for uid, c in ledger["claims"].items():
        f = answered.get(uid)
        fw = f"{where}/Fordring[{uid}]"
        if f is None:
            out.append(
                Difference(fw, f"the claim (Beloeb {c['amount']}, Restbeloeb {c['outstanding']})", MISSING, source)
            )
            continue
        if not amounts_only:
            _cmp(out, f"{fw}/Tilstand", c["state"], _t(f, "Tilstand"), source)
            _cmp(out, f"{fw}/Beloeb", c["amount"], _t(f, "Beloeb"), source, amount=True)
        _cmp(out, f"{fw}/Restbeloeb", c["outstanding"], _t(f, "Restbeloeb"), source, amount=True)
        if amounts_only:
            continue
        subs = {_t(s, "DelfordringUUID"): _t(s, "Beloeb") for s in f.iterfind("Delfordring")}
        for sid, amount in c["subclaims"].items():
            _cmp(
                out, f"{fw}/Delfordring[{sid}]/Beloeb", amount, subs.get(sid), source, amount=subs.get(sid) is not None
            )
        for sid in sorted(set(subs) - set(c["subclaims"]), key=str):
            out.append(Difference(f"{fw}/Delfordring[{sid}]", "no such sub-claim in KY's ledger", "listed", source))
    for uid in sorted(set(answered) - set(ledger["claims"]), key=str):
        out.append(Difference(f"{where}/Fordring[{uid}]", "no such claim in KY's ledger", "listed", source))
    _cmp(out, f"{where}/Restbeloeb", ledger["outstanding"], _t(el, "Restbeloeb"), source, amount=True)
    return out


def receipt_errors(doc: etree._Element | None) -> list[dict[str, str]]:
    """The ``FejlKode``/``FejlTekst`` pairs of a receipt (namespace-free payload)."""
    if doc is None:
        return []
    return [
        {"FejlKode": _t(f, "FejlKode") or "", "FejlTekst": _t(f, "FejlTekst") or ""}
        for f in doc.iterfind(".//Forretningskvittering/FejlListe/Fejl")
    ]


# -- 1e: the messages' content ------------------------------------------------------------------------

STATUSES_WITH_OUTSTANDING = ("aktiv",)
STATUSES_SETTLED = ("aktiv", "lukket")


def statuses_allowed(ledger: dict) -> tuple[str, ...]:
    """The DebitorkontoStatusskift statuses the ledger allows for an account KY registered (and the debtor
    system accepted): ``aktiv``; ``lukket`` too once nothing is outstanding. KY never handed it over
    (``overdraget``), and it is past ``oprettet``."""
    return STATUSES_SETTLED if oere(ledger["outstanding"]) == 0 else STATUSES_WITH_OUTSTANDING


def compare_statusskift(data: dict[str, Any], cvr: str, ledger: dict, source: str | None) -> list[Difference]:
    """A DebitorkontoStatusskift (namespace-free Beskeddata payload fields) against the ledger's account."""
    out: list[Difference] = []
    where = "DebitorkontoStatusskift"
    _cmp(out, f"{where}/DebitorkontoUUID", ledger["uuid"], data.get("DebitorkontoUUID"), source)
    _cmp(out, f"{where}/MyndighedCVR", cvr, data.get("MyndighedCVR"), source)
    allowed = statuses_allowed(ledger)
    if data.get("Status") not in allowed:
        out.append(
            Difference(
                f"{where}/Status",
                f"{' or '.join(allowed)} (KY's ledger: registration accepted, outstanding {ledger['outstanding']})",
                data.get("Status") or MISSING,
                source,
            )
        )
    return out


def compare_til_indbetaling(
    data: dict[str, Any], cvr: str, ledger: dict, expected_outstanding: str | None, source: str | None
) -> list[Difference]:
    """A FordringTilIndbetaling against the ledger: a claim of the account, this municipality among those
    who may pay, and (when given) ``Beloeb`` = what the ledger has outstanding on the claim once the
    payments made before the message are covered (``expected_outstanding``)."""
    out: list[Difference] = []
    where = "FordringTilIndbetaling"
    claim = data.get("FordringUUID")
    if claim not in ledger["claims"]:
        out.append(
            Difference(f"{where}/FordringUUID", f"a claim of account {ledger['uuid']}", claim or MISSING, source)
        )
        return out
    if data.get("DebitorkontoUUID") is not None:
        _cmp(out, f"{where}/DebitorkontoUUID", ledger["uuid"], data.get("DebitorkontoUUID"), source)
    _cmp(out, f"{where}/MyndighedCVR", cvr, data.get("MyndighedCVR"), source)
    if cvr not in (data.get("BetalendeMyndigheder") or []):
        payers = ", ".join(data.get("BetalendeMyndigheder") or []) or MISSING
        out.append(Difference(f"{where}/BetalendeMyndigheder", f"includes {cvr}", payers, source))
    if data.get("Beloeb") is not None and expected_outstanding is not None:
        _cmp(out, f"{where}[{claim}]/Beloeb", expected_outstanding, data["Beloeb"], source, amount=True)
    return out


def message_fields(doc: etree._Element | None) -> dict[str, Any]:
    """BeskedId and the Beskeddata fields of a (namespace-free) Haendelsesbesked."""
    if doc is None:
        return {}
    data = doc.find(".//Beskeddata")
    payload = data[0] if data is not None and len(data) else None
    fields: dict[str, Any] = {"BeskedId": _t(doc, "BeskedId/UUIDIdentifikator") or _t(doc, "BeskedId/URNIdentifikator")}
    if payload is not None:
        for child in payload:
            if child.tag == "BetalendeMyndigheder":
                fields["BetalendeMyndigheder"] = [m.text.strip() for m in child if m.text]
            elif isinstance(child.tag, str):
                fields[child.tag] = (child.text or "").strip()
    return fields
