"""What a failed readiness item missed and how to fix it: from the failed step's evidence (``step_hint``),
or from the differences the reconciliation with KY's ledger found (``DIFFERENCE_FIXES``)."""

from __future__ import annotations

from simulator.scenarios.results import StepResult

RETURN_SERVICE = "DaekningAfskrivningRegistreringAfsend"
SERVICE_OF_ITEM = {
    "1a": "DebitorRegistreringAfsend",
    "1b": "DebitorForespoergselAfsend",
    "1c": "DebitorIndbetalingAfsend",
    "1d": RETURN_SERVICE,
}

# -- a failed step ---------------------------------------------------------------------------------------------


def step_hint(item: str, step: StepResult, cvr: str, system: str | None) -> tuple[str, str]:
    """(what was missing, how to fix it) for a failed step, from its evidence."""
    ex = step.exchanges[-1] if step.exchanges else {}
    reason = ex.get("reason") or "see the evidence"
    code = ex.get("fault_code") or ""
    service = ex.get("service") or SERVICE_OF_ITEM.get(item, "")
    target = ex.get("route_target") or "?"
    missing = step.message or "the step did not pass"
    if step.verdict == "skipped":
        return missing, "fix the item it depends on first, then run the check again"
    if code == "SP-140":
        return missing, (
            f"register a route for {service} in municipality {cvr} to the debtor system's endpoint: add "
            f'`- service: {service}` / `municipality: "{cvr}"` / `target: <debtor system URL>` to '
            f"routes/routes.yaml, or PUT /api/routes/{service}:{cvr}"
        )
    if code == "SP-141":
        return missing, f"the debtor system at {target} did not answer: start it, or correct the route's URL"
    if code == "SP-142":
        return (
            missing,
            f"the debtor system at {target} answered without a SOAP 1.1 envelope: check its endpoint",
        )
    if code in ("SP-150", "SP-151"):
        return (
            missing,
            f"make the message follow the SF1590 contract (docs/contracts/sf1590.md): {reason}",
        )
    if code.startswith("SP-13"):
        return (
            missing,
            f"fix the service agreement ({reason}): routes/agreements.yaml or PUT /api/agreements",
        )
    if "service agreement" in missing and item in ("1a", "1b", "1c"):
        return missing, (
            f"give KY a service agreement for {service} in municipality {cvr}: routes/agreements.yaml "
            "(system: ky) or PUT /api/agreements"
        )
    if step.id == "coverage":
        if step.exchanges:
            return missing, (
                "KY refused the coverage/write-off (see FejlKode in the receipt): it must name a claim KY "
                "registered, an amount within what is outstanding, and a new DaekningUUID/AfskrivningUUID"
            )
        return missing, (
            f"make the debtor system ({system or 'the municipality debtor system'}) report the coverage of "
            f"KY's payment (RegistrerDaekning, naming the paid claim and amount) to KY through "
            f"{RETURN_SERVICE}, as system {system} under its service agreement for municipality {cvr}"
        )
    if item == "1e":
        if step.exchanges:
            return missing, (
                f"the Beskedfordeler refused the message ({ex.get('fault_code') or 'refused'}: {reason}); see "
                "docs/beskedfordeler.md for the return codes"
            )
        kind = "FordringTilIndbetaling" if step.id == "claim_message" else "DebitorkontoStatusskift"
        return missing, (
            f"make the debtor system publish a {kind} Haendelsesbesked (both DebitorkontoStatusskift and "
            "FordringTilIndbetaling are required) for the account to AFSEND_BESKED_EXCHANGE (or POST "
            f"/beskedfordeler/afsend) with ObjektAnsvarligMyndighed urn:oio:cvr-nr:{cvr}"
        )
    if "AFVIST" in missing or "ForretningsValideringsKode" in missing:
        return missing, (
            f"the debtor system answered {ex.get('operation')} without ACCEPTERET: see the receipt's "
            "FejlListe in the evidence and fix the debtor system's handling of it"
        )
    return missing, "see the step's evidence and diff"


# -- a difference with KY's ledger ---------------------------------------------------------------------------


def difference_fix(item: str, cvr: str, system: str | None, window: str) -> str:
    """How to fix an item whose values differ from KY's ledger."""
    who = f"the debtor system ({system})" if system else "the debtor system"
    if item == "1b":
        return (
            f"make {who} answer SoegDebitorkonto/LaesDebitorkonto from its books as KY registered them: every claim "
            "and sub-claim of the account with KY's Beloeb, and Restbeloeb = Beloeb − coverages − write-offs − "
            "down-adjustments + interest + fees (docs/contracts/sf1590.md)"
        )
    if item == "1c":
        return (
            f"make {who} cover KY's payment on the claim it names, with the payment's amount, and report that "
            f"coverage (RegistrerDaekning with FordringUUID, IndbetalingUUID and Beloeb) to KY through "
            f"{RETURN_SERVICE}; afterwards its Restbeloeb must equal KY's"
        )
    if item == "1d":
        return (
            f"make {who} report its coverages and write-offs through {RETURN_SERVICE} so that KY books them "
            "(see KY's FejlKode in each receipt); if it wrote nothing off in this run, write off (part of) a "
            f"claim KY registered for municipality {cvr} and send RegistrerAfskrivning (AfskrivningUUID, "
            f"FordringUUID, Beloeb, Dato, Aarsag from the contract's list) — evidence window: {window}"
        )
    if item == "1e":
        return (
            f"make {who} publish both DebitorkontoStatusskift and FordringTilIndbetaling with the ledger's facts "
            "(the account's status as KY registered it — lukket only when nothing is outstanding —, the claim's "
            "outstanding amount once KY's payments are covered, this municipality among the payers), and make "
            f"sure KY receives them: a BeskedModtag agreement for KY and municipality {cvr} (routes/agreements.yaml)"
        )
    return "see the differences and their evidence"
