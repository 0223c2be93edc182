"""The `simulator` command line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from simulator.ci import verify_command, wait_healthy_command
from simulator.config import get_settings
from simulator.klassifikation.cli import app as klassifikation_app
from simulator.ky.cli import app as ky_app
from simulator.remote import ADDRESS_HELP, UrlOption, admin_request
from simulator.scenarios.cli import app as scenario_app
from simulator.scenarios.cli import readiness_command
from simulator.security.cli import certs_app

app = typer.Typer(
    help="KY debtor simulator: Serviceplatformen, Beskedfordeleren and Klassifikation on your laptop.\n\n"
    + ADDRESS_HELP,
    no_args_is_help=True,
)
routes_app = typer.Typer(help="The route table in routes/.", no_args_is_help=True)
app.add_typer(routes_app, name="routes")
municipality_app = typer.Typer(help="Municipalities: onboard one (docs/onboarding.md).", no_args_is_help=True)
app.add_typer(municipality_app, name="municipality")
contracts_app = typer.Typer(help="The services' contracts (WSDL + XSD packages).", no_args_is_help=True)
app.add_typer(contracts_app, name="contracts")
app.add_typer(klassifikation_app, name="klassifikation")
app.add_typer(certs_app, name="certs")
app.add_typer(ky_app, name="ky")
app.add_typer(scenario_app, name="scenario")
app.command("readiness")(readiness_command)
app.command("verify")(verify_command)
app.command("wait-healthy")(wait_healthy_command)


@app.command()
def run(
    host: Annotated[str | None, typer.Option(help="default SIMULATOR_HOST or 127.0.0.1")] = None,
    port: Annotated[int | None, typer.Option(help="default SIMULATOR_PORT or 8000")] = None,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="processes serving the one port (N>1 needs PostgreSQL, and RabbitMQ for the Beskedfordeler; "
            "docs/performance.md)",
        ),
    ] = 1,
) -> None:
    """Start the simulator (embedded defaults: SQLite file, in-process broker)."""
    import gc

    import uvicorn

    gc.disable()  # while importing and starting (every object made then lives as long as the process): simulator.app

    from simulator.security.tls import uvicorn_tls_options

    settings = get_settings()
    if host:
        settings.host = host
    if port:
        settings.port = port
    if workers > 1:
        problems = workers_problems(settings)
        if problems:
            typer.echo(f"--workers {workers} needs engines the processes share:", err=True)
            for p in problems:
                typer.echo(f"  - {p}", err=True)
            raise typer.Exit(2)
        import asyncio

        from simulator.store import Database

        asyncio.run(_migrate(Database(settings.database_url)))  # once, before the workers start
    typer.echo(f"KY debtor simulator on http://{settings.host}:{settings.port}  (admin API: /docs)")
    typer.echo(
        f"  routes:   {settings.routes_dir}\n  messages: {settings.messages_dir}\n  database: {settings.database_url}"
    )
    typer.echo(f"  broker:   {settings.broker_url or 'in-process'}")
    uvicorn.run(
        "simulator.app:main_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        access_log=False,
        timeout_graceful_shutdown=3,
        workers=workers,
        timeout_worker_healthcheck=60,  # a worker imports and migrates before it answers; slow on a busy machine
        **uvicorn_tls_options(settings),
    )


PER_PROCESS_COMPONENTS = {
    "klassifikation": "its sortiment deliveries run in every process",
    "scenarios": "a scenario run lives in the process that started it",
}


def workers_problems(settings) -> list[str]:
    """Why several processes cannot serve these settings (empty: they can)."""
    problems = []
    if settings.database_url.startswith("sqlite"):
        problems.append(
            "a database the processes share: set SIMULATOR_DATABASE_URL=postgresql+asyncpg://… (SQLite serves one "
            "process)"
        )
    if "beskedfordeler" in settings.components and not settings.broker_url:
        problems.append(
            "a broker the processes share: set SIMULATOR_BROKER_URL=amqp://… (the in-process broker is one per process)"
        )
    for name, why in PER_PROCESS_COMPONENTS.items():
        if name in settings.components:
            problems.append(f"no component '{name}' ({why}): leave it out of SIMULATOR_COMPONENTS")
    return problems


async def _migrate(db) -> None:
    try:
        await db.migrate()
    finally:
        await db.close()


@routes_app.command("check")
def routes_check(
    directory: Annotated[Path | None, typer.Argument(help="default SIMULATOR_ROUTES_DIR or the demo routes")] = None,
) -> None:
    """Validate the route files: one line per problem, with file and line."""
    from simulator.runtime import load_components
    from simulator.serviceplatform import RouteFileError, read_route_files
    from simulator.soap.contract import contract_names

    load_components(get_settings().components)
    directory = directory or get_settings().routes_dir
    try:
        files = read_route_files(directory, known_contracts=set(contract_names()))
    except RouteFileError as e:
        for p in e.problems:
            typer.echo(f"{directory / p.file}:{p.line}: {p.message}", err=True)
        typer.echo(f"{len(e.problems)} problem(s)", err=True)
        raise typer.Exit(1) from None
    typer.echo(
        f"{directory}: OK — {len(files.services)} services, {len(files.systems)} systems, "
        f"{len(files.municipalities)} municipalities, {len(files.routes)} routes, {len(files.agreements)} agreements"
    )


@routes_app.command("reload")
def routes_reload(url: UrlOption = None) -> None:
    """Make a running simulator read its route files again (new municipalities, routes, agreements and
    sortiment subscriptions; API edits are kept)."""
    r = admin_request("POST", "/routes/reload", url)
    typer.echo(
        f"{r['directory']}: reloaded — {len(r['municipalities'])} municipalities, {r['routes']} routes, "
        f"{r['agreements']} agreements"
        + (f"; subscriptions started: {', '.join(r['subscriptions_added'])}" if r["subscriptions_added"] else "")
    )


@municipality_app.command("add")
def municipality_add(
    cvr: Annotated[str, typer.Option(help="the municipality's CVR number (8 digits)")],
    name: Annotated[str, typer.Option(help="its name, e.g. 'Aarhus Kommune'")],
    system: Annotated[str, typer.Option(help="its debtor system: a key of routes/systems.yaml (kind: debtor)")],
    debtor_url: Annotated[
        str,
        typer.Option(
            help="the debtor system's base URL for this municipality; each service's path is appended "
            "(or put {path} where it goes); ${VAR:-default} is kept for the route table to expand"
        ),
    ],
    routes: Annotated[Path | None, typer.Option(help="the route folder; default SIMULATOR_ROUTES_DIR")] = None,
    url: UrlOption = None,
) -> None:
    """Add a municipality to the route files: its routes, the service agreements of KY, its debtor system and
    Klassifikation, and its sortiment subscription. With --url (or SIMULATOR_URL) the running simulator
    reloads them."""
    from simulator.onboarding import OnboardingError, add_municipality
    from simulator.runtime import load_components
    from simulator.soap.contract import contract_names

    settings = get_settings()
    load_components(settings.components)
    directory = routes or settings.routes_dir
    try:
        done = add_municipality(
            directory,
            cvr=cvr,
            name=name,
            system=system,
            debtor_url=debtor_url,
            messages_dir=settings.messages_dir,
            known_contracts=set(contract_names()),
        )
    except OnboardingError as e:
        typer.echo(f"refused: {e}", err=True)
        raise typer.Exit(1) from None
    typer.echo(
        f"added {done.cvr} {done.name} (debtor system {done.system}): {len(done.routes)} routes, "
        f"{len(done.agreements)} agreements, {1 if done.subscription else 0} sortiment subscription"
    )
    for r in done.routes:
        typer.echo(f"  route      {r['service']} → {r['target']}")
    for a in done.agreements:
        typer.echo(f"  agreement  {a['system']} × {a['service']}  {a['uuid']}")
    for s in done.skipped:
        typer.echo(f"  skipped    {s}")
    typer.echo("written: " + ", ".join(done.files))
    if not url:
        typer.echo(
            "a running simulator picks this up with `simulator routes reload` (POST /api/routes/reload) or a "
            f"restart; then: simulator readiness --municipality {done.cvr}"
        )
        return
    r = admin_request("POST", "/routes/reload", url)
    if done.cvr not in r["municipalities"]:
        typer.echo(
            f"the simulator reloaded {r['directory']}, which does not have {done.cvr}: it reads another route "
            f"folder than {directory}; add the municipality there (--routes) or point SIMULATOR_ROUTES_DIR here",
            err=True,
        )
        raise typer.Exit(1)
    typer.echo(f"the running simulator has {done.cvr} now; next: simulator readiness --municipality {done.cvr}")


@contracts_app.command("export")
def contracts_export(
    folder: Annotated[Path, typer.Argument(help="where to write <folder>/<service>/…")],
    service: Annotated[list[str] | None, typer.Option(help="only this service; repeat for more")] = None,
    routes: Annotated[Path | None, typer.Option(help="route folder; default SIMULATOR_ROUTES_DIR")] = None,
    url: Annotated[
        str | None, typer.Option(help="simulator base URL written into the WSDLs; default SIMULATOR_PUBLIC_URL")
    ] = None,
) -> None:
    """Write each SOAP service's contract as KOMBIT ships one: WSDL + XSD files and a README of what is our
    inference, ready for wsimport/svcutil and loadable as `official_contract:` (docs/contracts/package.md)."""
    from simulator.runtime import load_components
    from simulator.serviceplatform import RouteFileError, read_route_files
    from simulator.soap.contract import contract_names, get_contract
    from simulator.soap.export import export_contracts, exportable
    from simulator.soap.official import OfficialContractError, load_official_contract

    settings = get_settings()
    load_components(settings.components)
    try:
        files = read_route_files(routes or settings.routes_dir, known_contracts=set(contract_names()))
    except RouteFileError as e:
        typer.echo(str(e), err=True)
        raise typer.Exit(1) from None
    wanted = set(service or [])
    unknown = wanted - {s.name for s in files.services}
    if unknown:
        typer.echo(f"no such service: {', '.join(sorted(unknown))}", err=True)
        raise typer.Exit(1)
    chosen = []
    for s in files.services:
        if (wanted and s.name not in wanted) or s.transport != "soap":
            continue
        try:
            contract = load_official_contract(Path(s.official_contract), s) if s.official_contract else None
        except OfficialContractError as e:
            typer.echo(f"{s.name}: {e}", err=True)
            raise typer.Exit(1) from None
        contract = contract or (get_contract(s.contract) if s.contract else None)
        if exportable(contract):
            chosen.append((s, contract))
        elif wanted:
            typer.echo(f"{s.name} has no WSDL/XSD contract to export", err=True)
            raise typer.Exit(1)
    written = export_contracts(chosen, folder, (url or settings.base_url).rstrip("/"))
    for s, _contract in chosen:
        count = sum(1 for p in written if folder / s.name in p.parents)
        typer.echo(f"{folder / s.name}: {count} files")


if __name__ == "__main__":
    app()
