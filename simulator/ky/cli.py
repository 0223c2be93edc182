"""`simulator ky …`: drive the simulated KY through the admin API of a running simulator."""

from __future__ import annotations

import json
from datetime import date
from typing import Annotated, Any

import typer

from simulator.remote import UrlOption, admin_request

app = typer.Typer(
    help="The simulated KY: send accounts, change claims, pay, query (needs a running simulator).", no_args_is_help=True
)

UrlOpt = UrlOption


def _call(method: str, path: str, url: str | None, **kw: Any) -> Any:
    return admin_request(method, f"/ky{path}", url, **kw)


def _out(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False))


def _print_and_exit(data: dict) -> None:
    """Print the answer (once); exit 1 when the debtor system did not accept KY's call."""
    _out(data)
    sent = data.get("sent")
    if sent is not None and not sent.get("accepted"):
        raise typer.Exit(1)


@app.command("create-account")
def create_account(
    municipality: Annotated[str, typer.Option(help="municipality CVR")],
    claim: Annotated[list[str], typer.Option(help="a claim's amount in kroner; repeat for more claims")],
    cpr: Annotated[str | None, typer.Option(help="the debtor's CPR")] = None,
    cvr: Annotated[str | None, typer.Option(help="the debtor's CVR (a company)")] = None,
    name: Annotated[str | None, typer.Option(help="the debtor's name")] = None,
    fordringstype: Annotated[
        list[str] | None,
        typer.Option(
            help="the claims' claim type (UUID or brugervendt nøgle, e.g. KY-FT-0101) from KY's debtor sortiment; "
            "once for every claim, or once per --claim in order (default: the sortiment's first; see "
            "`simulator ky fordringstyper`)"
        ),
    ] = None,
    send: Annotated[bool, typer.Option(help="send OpretDebitorkonto to the debtor system now")] = True,
    url: UrlOpt = None,
) -> None:
    """Create a debtor account with claims in KY and send it to the municipality's debtor system."""
    debitor = {k: v for k, v in {"cpr": cpr, "cvr": cvr, "name": name}.items() if v}
    types = list(fordringstype or [])
    if len(types) not in (0, 1, len(claim)):
        raise typer.BadParameter("give --fordringstype once, or once per --claim", param_hint="--fordringstype")
    claims = [
        {"amount": a} | ({"fordringstype": (types * len(claim))[i]} if types else {}) for i, a in enumerate(claim)
    ]
    data = _call(
        "POST",
        "/accounts",
        url,
        json={"municipality": municipality, "debitor": debitor, "claims": claims, "send": send},
    )
    _print_and_exit(data)


@app.command("fordringstyper")
def claim_types(municipality: Annotated[str, typer.Option(help="municipality CVR")], url: UrlOpt = None) -> None:
    """The claim types KY uses for a municipality (from the sortiment version its debtor system acknowledged)."""
    data = _call("GET", "/fordringstyper", url, params={"municipality": municipality})
    typer.echo(f"KY's debtor sortiment version {data['version']} ({data['basis']}):")
    for t in data["types"]:
        typer.echo(f"  {t['brugervendt_noegle']:<12} {t['uuid']}  {t['titel']}")


@app.command("accounts")
def accounts(
    municipality: Annotated[str | None, typer.Option()] = None,
    cpr: Annotated[str | None, typer.Option()] = None,
    cvr: Annotated[str | None, typer.Option()] = None,
    url: UrlOpt = None,
) -> None:
    """KY's accounts, with claims, movements and outstanding amounts."""
    params = {k: v for k, v in {"municipality": municipality, "cpr": cpr, "cvr": cvr}.items() if v}
    _out(_call("GET", "/accounts", url, params=params))


@app.command("account")
def account(
    account_uuid: str,
    remote: Annotated[
        bool, typer.Option(help="ask the debtor system (LaesDebitorkonto) instead of KY's ledger")
    ] = False,
    url: UrlOpt = None,
) -> None:
    """One account: KY's view, or (--remote) the debtor system's."""
    _out(_call("GET", f"/accounts/{account_uuid}" + ("/remote" if remote else ""), url))


@app.command("claim-state")
def claim_state(
    claim_uuid: str,
    state: Annotated[str, typer.Option(help="Aktiv | Suspenderet | Annulleret | Nedreguleret")],
    down_adjustment: Annotated[str | None, typer.Option(help="adjust the claim down by this amount")] = None,
    reason: Annotated[str | None, typer.Option()] = None,
    url: UrlOpt = None,
) -> None:
    """RetFordringTilstand: change a claim's state."""
    body = {"state": state, "down_adjustment": down_adjustment, "reason": reason}
    data = _call("POST", f"/claims/{claim_uuid}/state", url, json={k: v for k, v in body.items() if v})
    _print_and_exit(data)


@app.command("end-liability")
def end_liability(
    liability_uuid: str,
    valid_to: Annotated[str | None, typer.Option(help="YYYY-MM-DD; default today")] = None,
    reason: Annotated[str | None, typer.Option()] = None,
    url: UrlOpt = None,
) -> None:
    """AfslutHaeftelse / AfslutAdministrator: end a liability."""
    body = {"valid_to": date.fromisoformat(valid_to).isoformat() if valid_to else None, "reason": reason}
    data = _call("POST", f"/liabilities/{liability_uuid}/end", url, json={k: v for k, v in body.items() if v})
    _print_and_exit(data)


@app.command("pay")
def pay(
    claim_uuid: str,
    amount: Annotated[str, typer.Option(help="kroner, e.g. 300.00")],
    subclaim: Annotated[str | None, typer.Option(help="pay on this sub-claim")] = None,
    url: UrlOpt = None,
) -> None:
    """ForetagIndbetaling: KY pays on a claim."""
    body = {"amount": amount, "subclaim_uuid": subclaim}
    data = _call("POST", f"/claims/{claim_uuid}/payments", url, json={k: v for k, v in body.items() if v})
    _print_and_exit(data)


@app.command("query")
def query(
    municipality: Annotated[str, typer.Option()],
    cpr: Annotated[str | None, typer.Option()] = None,
    cvr: Annotated[str | None, typer.Option()] = None,
    open_subclaims: Annotated[
        bool, typer.Option(help="SoegDelfordringTilIndbetaling instead of SoegDebitorkonto")
    ] = False,
    url: UrlOpt = None,
) -> None:
    """Ask the debtor system for a CPR/CVR's accounts (or sub-claims open for payment)."""
    params = {k: v for k, v in {"municipality": municipality, "cpr": cpr, "cvr": cvr}.items() if v}
    _out(_call("GET", "/query/open-subclaims" if open_subclaims else "/query/accounts", url, params=params))


@app.command("postings")
def postings(
    municipality: Annotated[str | None, typer.Option()] = None,
    kind: Annotated[str | None, typer.Option(help="daekning | afskrivning | indbetaling | …")] = None,
    url: UrlOpt = None,
) -> None:
    """Movements booked in KY's ledger, newest first."""
    params = {k: v for k, v in {"municipality": municipality, "kind": kind}.items() if v}
    _out(_call("GET", "/postings", url, params=params))
