"""`simulator klassifikation …`: look at and edit KY's debtor sortiment on a running simulator.

Edits go through the admin API (/api/klassifikation), so that each one becomes a new version and is
delivered to every subscriber at once.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from simulator.remote import UrlOption, admin_request

app = typer.Typer(
    help="KY's debtor sortiment (Klassifikation): show, edit, subscriptions, deliveries.", no_args_is_help=True
)

UrlOpt = UrlOption
NoteOpt = Annotated[str, typer.Option(help="the new version's note")]


def _request(url: str | None, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    return admin_request(method, f"/klassifikation{path}", url, json=body, timeout=30)


def _tree(nodes: list[dict[str, Any]], depth: int = 1) -> None:
    for n in nodes:
        end = f"  [udgået {n['virkning_til'][:10]}]" if n["udgaaet"] else ""
        typer.echo(f"{'  ' * depth}{n['brugervendt_noegle']:<12} {n['titel']}{end}  (v{n['version']}, {n['uuid']})")
        _tree(n["underklasser"], depth + 1)


@app.command()
def show(url: UrlOpt = None, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """The current version as a tree per Facet."""
    s = _request(url, "GET", "/sortiment")
    if as_json:
        typer.echo(json.dumps(s, indent=2, ensure_ascii=False))
        return
    typer.echo(f"{s['brugervendt_noegle']} version {s['version']} ({s['tidspunkt']}): {s['note']}")
    for f in s["facetter"]:
        typer.echo(f"{f['brugervendt_noegle']} — {f['titel']}")
        _tree(f["klasser"])


@app.command()
def versions(url: UrlOpt = None) -> None:
    """Every version and what changed in it."""
    for v in _request(url, "GET", "/sortiment/versions"):
        changes = ", ".join(f"{c['handling']} {c.get('brugervendt_noegle', c.get('klasse'))}" for c in v["aendringer"])
        typer.echo(f"v{v['version']}  {v['tidspunkt']}  [{v['origin']}]  {v['note']}\n    {changes[:300]}")


def _print_version(v: dict[str, Any]) -> None:
    typer.echo(f"version {v['version']} created; subscribers get the change now")


@app.command()
def add(
    brugervendt_noegle: Annotated[str, typer.Argument(help="e.g. KY-FT-0205")],
    titel: Annotated[str, typer.Argument()],
    facet: Annotated[str, typer.Option(help="Facet BrugervendtNoegle or UUID")] = "KY-FORDRINGSTYPE",
    overordnet: Annotated[str | None, typer.Option(help="parent Klasse (BrugervendtNoegle or UUID)")] = None,
    beskrivelse: Annotated[str, typer.Option()] = "",
    virkning_fra: Annotated[str | None, typer.Option(help="ISO date-time; default now")] = None,
    note: NoteOpt = "",
    url: UrlOpt = None,
) -> None:
    """Add a Klasse."""
    body = {
        "brugervendt_noegle": brugervendt_noegle,
        "titel": titel,
        "facet": facet,
        "overordnet": overordnet,
        "beskrivelse": beskrivelse,
        "virkning_fra": virkning_fra,
        "note": note,
    }
    _print_version(_request(url, "POST", "/klasser", {k: v for k, v in body.items() if v is not None}))


@app.command()
def change(
    klasse: Annotated[str, typer.Argument(help="BrugervendtNoegle or UUID")],
    titel: Annotated[str | None, typer.Option()] = None,
    beskrivelse: Annotated[str | None, typer.Option()] = None,
    brugervendt_noegle: Annotated[str | None, typer.Option()] = None,
    overordnet: Annotated[str | None, typer.Option()] = None,
    note: NoteOpt = "",
    url: UrlOpt = None,
) -> None:
    """Change a Klasse's texts or parent."""
    body = {
        "titel": titel,
        "beskrivelse": beskrivelse,
        "brugervendt_noegle": brugervendt_noegle,
        "overordnet": overordnet,
        "note": note,
    }
    _print_version(_request(url, "PATCH", f"/klasser/{klasse}", {k: v for k, v in body.items() if v is not None}))


@app.command()
def retire(
    klasse: Annotated[str, typer.Argument(help="BrugervendtNoegle or UUID")],
    virkning_til: Annotated[str | None, typer.Option(help="end of Virkning (ISO date-time); default now")] = None,
    note: NoteOpt = "",
    url: UrlOpt = None,
) -> None:
    """Retire a Klasse: its Virkning ends; it stays in the sortiment."""
    body = {"virkning_til": virkning_til, "note": note}
    _print_version(_request(url, "POST", f"/klasser/{klasse}/udgaa", {k: v for k, v in body.items() if v is not None}))


@app.command()
def subscriptions(url: UrlOpt = None) -> None:
    """Each subscriber and the version it has acknowledged."""
    for s in _request(url, "GET", "/subscriptions"):
        state = "up to date" if s["up_to_date"] else f"behind (current v{s['current_version']})"
        if not s["active"]:
            state = "paused"
        line = f"{s['id']:<24} acknowledged v{s['acknowledged_version'] or 0}  {state}"
        if s["failures"]:
            line += f"  {s['failures']} failure(s), next try {s['next_attempt_at']}: {s['last_error']}"
        typer.echo(line)


@app.command()
def deliveries(
    subscription: Annotated[str | None, typer.Option(help="<cvr>:<system>")] = None,
    limit: Annotated[int, typer.Option()] = 20,
    url: UrlOpt = None,
) -> None:
    """Recent delivery attempts with the receiver's receipt."""
    path = f"/deliveries?limit={limit}" + (f"&subscription={subscription}" if subscription else "")
    for d in _request(url, "GET", path):
        versions = f"v{d['from_version']}→v{d['to_version']}" if d["from_version"] else f"v{d['to_version']}"
        typer.echo(
            f"{d['started_at'][:19]}  {d['subscription']:<22} {d['leverancetype']:<8} {versions:<8} "
            f"{d['klasser']:>3} klasser  try {d['attempt']}  {d['outcome']}: {d['detail']}"
        )


@app.command()
def resend(subscription: Annotated[str, typer.Argument(help="<cvr>:<system>")], url: UrlOpt = None) -> None:
    """Send the whole sortiment to a subscriber again."""
    cvr, _, system = subscription.partition(":")
    _request(url, "POST", f"/subscriptions/{cvr}/{system}/resend")
    typer.echo(f"{subscription}: the whole sortiment is on its way")


@app.command()
def retry(
    subscription: Annotated[str | None, typer.Argument(help="<cvr>:<system>")] = None,
    municipality: Annotated[str | None, typer.Option(help="every subscription of this municipality")] = None,
    url: UrlOpt = None,
) -> None:
    """Deliver now what a subscriber lacks, instead of waiting out the backoff after a failed delivery."""
    if bool(subscription) == bool(municipality):
        raise typer.BadParameter("give a subscription (<cvr>:<system>) or --municipality")
    if municipality:
        ids = [s["id"] for s in _request(url, "GET", "/subscriptions") if s["municipality"] == municipality]
        if not ids:
            typer.echo(f"municipality {municipality} has no sortiment subscription", err=True)
            raise typer.Exit(1)
    else:
        ids = [subscription]
    failed = False
    for sub_id in ids:
        cvr, _, system = sub_id.partition(":")
        s = admin_request("POST", f"/klassifikation/subscriptions/{cvr}/{system}/retry", url, timeout=90)
        d = s.get("delivery")
        if d is None:
            typer.echo(
                f"{sub_id}: nothing to deliver (acknowledged v{s['acknowledged_version'] or 0}, current "
                f"v{s['current_version']}{', paused' if not s['active'] else ''})"
            )
            continue
        failed |= d["outcome"] != "accepteret"
        typer.echo(f"{sub_id}: {d['leverancetype']} v{d['to_version']} delivered: {d['outcome']}: {d['detail']}")
    raise typer.Exit(1 if failed else 0)
