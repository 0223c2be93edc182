"""`simulator certs …`: the test PKI (register with `app.add_typer(certs_app, name="certs")`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from simulator.config import get_settings

certs_app = typer.Typer(help="The test PKI for the certificate and token security models.", no_args_is_help=True)


@certs_app.command("init")
def certs_init(
    directory: Annotated[Path | None, typer.Option("--dir", help="default SIMULATOR_CERTS_DIR or ./var/certs")] = None,
    routes: Annotated[Path | None, typer.Option(help="route folder whose systems get certificates")] = None,
    host: Annotated[list[str] | None, typer.Option(help="server certificate names (repeat); default localhost")] = None,
    force: Annotated[bool, typer.Option(help="replace everything, including the CA")] = False,
) -> None:
    """Create the test CA, the server and STS certificates and a client certificate per system."""
    from simulator.security.pki import init_pki
    from simulator.serviceplatform import RouteFileError, read_route_files

    settings = get_settings()
    directory = directory or settings.certs_dir
    routes = routes or settings.routes_dir
    try:
        systems = read_route_files(routes).systems
    except RouteFileError as e:
        typer.echo(f"{routes}: the route files have problems:\n{e}", err=True)
        raise typer.Exit(1) from None
    names = host or ["localhost", "127.0.0.1", "::1"]
    pki, written = init_pki(directory, systems, server_names=names, force=force)
    for path in written:
        typer.echo(f"wrote {path}")
    if not written:
        typer.echo(f"{pki.dir}: everything exists already (use --force to replace)")
    typer.echo(f"fingerprints: {pki.dir / 'fingerprints.yaml'}")
    typer.echo(
        "serve HTTPS with client certificates:\n"
        f"  SIMULATOR_TLS_CERTFILE={pki.server_cert} SIMULATOR_TLS_KEYFILE={pki.server_key} "
        f"SIMULATOR_SECURITY_MODE=certificate simulator run"
    )


@certs_app.command("show")
def certs_show(
    directory: Annotated[Path | None, typer.Option("--dir", help="default SIMULATOR_CERTS_DIR")] = None,
) -> None:
    """Print each system certificate's file, subject and SHA-256 fingerprint."""
    from simulator.security.pki import Pki, fingerprint

    pki = Pki(directory or get_settings().certs_dir)
    if not pki.exists:
        typer.echo(f"{pki.dir}: no test PKI (run `simulator certs init`)", err=True)
        raise typer.Exit(1)
    for key, cert in pki.system_certs().items():
        typer.echo(
            f"{key}: {pki.system_cert(key)}\n  subject {cert.subject.rfc4514_string()}\n  sha256  {fingerprint(cert)}"
        )
