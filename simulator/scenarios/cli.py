"""``simulator scenario record|replay`` and ``simulator readiness``.

Two modes: by default the command runs the simulator in-process (the settings from ``SIMULATOR_*``: the
same database, routes and messages), serving it on its port while the command runs so the debtor system
can call back (coverages, messages); with ``--url`` (or ``SIMULATOR_URL``) it drives a simulator that is already
running, through its admin API (``SIMULATOR_ADMIN_TOKEN`` is sent when set).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from simulator.remote import URL_ENV, admin_headers

app = typer.Typer(help="QA scenarios: record traffic into a scenario file, replay it.", no_args_is_help=True)

UrlOpt = Annotated[
    str | None,
    typer.Option(
        "--url",
        envvar=URL_ENV,
        show_envvar=True,
        help="a running simulator's base URL (default: run the simulator in-process)",
    ),
]


# -- running the simulator in-process -----------------------------------------------------------------


@asynccontextmanager
async def _in_process(serve: bool = True) -> AsyncIterator[Any]:
    """The simulator (settings from SIMULATOR_*), started; served on its port when ``serve``."""
    import uvicorn

    from simulator.app import create_app
    from simulator.config import get_settings

    settings = get_settings()
    if "scenarios" not in settings.components:
        settings.components = [*settings.components, "scenarios"]
    sim = create_app(settings)
    if not serve:
        await sim.runtime.start()
        try:
            yield sim.runtime
        finally:
            await sim.runtime.stop()
        return
    server = uvicorn.Server(
        uvicorn.Config(sim, host=settings.host, port=settings.port, log_level="warning", lifespan="on")
    )
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + 60
    while not server.started:
        if task.done():
            raise typer.BadParameter(f"the simulator could not serve on {settings.host}:{settings.port} (in use?)")
        if time.monotonic() > deadline:
            raise typer.BadParameter("the simulator did not start within 60 s")
        await asyncio.sleep(0.02)
    try:
        yield sim.runtime
    finally:
        server.should_exit = True
        await task


def _client(url: str):
    import httpx

    return httpx.AsyncClient(base_url=url.rstrip("/"), headers=admin_headers(), timeout=70)


async def _remote(url: str, start_path: str, body: dict[str, Any], on_event: Callable[[dict], None]) -> dict[str, Any]:
    async with _client(url) as c:
        r = await c.post(start_path, json=body)
        if r.status_code >= 400:
            raise typer.BadParameter(f"{r.status_code}: {r.text}")
        job = r.json()
        seen = 0
        while True:
            r = await c.get(f"/api/scenarios/runs/{job['id']}", params={"wait": 10, "after": seen})
            r.raise_for_status()
            run = r.json()
            for ev in run["events"]:
                on_event(ev)
            seen = run["event_count"]
            if run["state"] != "running":
                if run.get("error"):
                    raise typer.BadParameter(run["error"])
                return run["result"]


# -- output -------------------------------------------------------------------------------------------


class _Display:
    """A rich progress bar and one line per step verdict."""

    COLOURS = {"pass": "green", "fail": "red", "error": "red", "skipped": "yellow"}

    def __init__(self, total: int, title: str) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.console = Console()
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=self.console,
            transient=True,
        )
        self.task = self.progress.add_task(title, total=total)

    def __enter__(self) -> _Display:
        self.progress.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.progress.stop()

    def __call__(self, ev: dict[str, Any]) -> None:
        if ev.get("event") == "start":
            self.progress.update(self.task, description=f"{ev['step']}/{ev['total']} {ev['label']}")
        elif ev.get("event") == "step":
            colour = self.COLOURS.get(ev["verdict"], "white")
            line = f"[{colour}]{ev['verdict'].upper():7}[/{colour}] {ev['step']:>2}. {ev['label']}"
            if ev.get("message") and ev["verdict"] != "pass":
                line += f"\n           [dim]{ev['message']}[/dim]"
            self.console.print(line, highlight=False, markup=True)
            self.progress.advance(self.task)


def _print_diffs(result: dict[str, Any]) -> None:
    from rich.console import Console

    console = Console()
    steps = result.get("steps") or (result.get("run") or {}).get("steps") or []
    for s in steps:
        if s.get("diff"):
            console.print(f"\n[bold]Step {s['index']}: {s['label']}[/bold] — expected vs actual:", highlight=False)
            for line in s["diff"].splitlines():
                colour = "red" if line.startswith("-") else "green" if line.startswith("+") else None
                console.print(f"[{colour}]{line}[/{colour}]" if colour else line, highlight=False, markup=bool(colour))


def _write(result: dict[str, Any], json_path: Path | None, junit: Path | None, html: Path | None) -> None:
    from simulator.scenarios.report import write_reports

    for p in write_reports(result, json_path=json_path, junit=junit, html=html):
        typer.echo(f"wrote {p}")


# -- commands -----------------------------------------------------------------------------------------


@app.command()
def replay(
    file: Annotated[Path, typer.Argument(help="scenario file (YAML or JSON)", exists=True, dir_okay=False)],
    municipality: Annotated[str | None, typer.Option(help="CVR; default: the scenario's municipality")] = None,
    target: Annotated[str | None, typer.Option(help="send KY's calls to this URL (base, or with {path})")] = None,
    junit: Annotated[Path | None, typer.Option(help="write JUnit XML here")] = None,
    html: Annotated[Path | None, typer.Option(help="write the HTML report here")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="write the JSON result here")] = None,
    url: UrlOpt = None,
) -> None:
    """Replay a scenario against the municipality's debtor system; exit code 0 = pass, 1 = fail."""
    from simulator.scenarios import model
    from simulator.scenarios.engine import ScenarioRun

    try:
        sc = model.load(file)
    except model.ScenarioError as e:
        typer.echo(str(e), err=True)
        raise typer.Exit(2) from None

    async def go() -> dict[str, Any]:
        with _Display(len(sc.steps), sc.name) as show:
            if url:
                return await _remote(
                    url,
                    "/api/scenarios/runs",
                    {"document": sc.dump(), "municipality": municipality, "target": target},
                    show,
                )
            async with _in_process() as rt:
                run = ScenarioRun(rt, sc, municipality=municipality, target=target, on_progress=show)
                return (await run.execute()).as_dict()

    try:
        result = asyncio.run(go())
    except ValueError as e:
        typer.echo(str(e), err=True)
        raise typer.Exit(2) from None
    _print_diffs(result)
    _write(result, json_out, junit, html)
    c = result["counts"]
    typer.echo(
        f"{result['verdict'].upper()}: {c['pass']} passed, {c['fail']} failed, {c['error']} errors, "
        f"{c['skipped']} skipped (session {result['session']})"
    )
    raise typer.Exit(0 if result["verdict"] == "pass" else 1)


@app.command("record")
def record_cmd(
    out: Annotated[Path, typer.Option("--out", "-o", help="the scenario file to write (.yaml or .json)")],
    session: Annotated[str | None, typer.Option(help="record the exchanges tagged with this session")] = None,
    since: Annotated[datetime | None, typer.Option(help="record exchanges from this time (ISO 8601)")] = None,
    until: Annotated[datetime | None, typer.Option(help="… until this time")] = None,
    name: Annotated[str | None, typer.Option(help="scenario name; default: the file's name")] = None,
    municipality: Annotated[str | None, typer.Option(help="default municipality of the scenario")] = None,
    url: UrlOpt = None,
) -> None:
    """Turn recorded exchanges (a session or a time window) into a scenario file."""
    import json

    import yaml

    from simulator.scenarios import model
    from simulator.scenarios.record import RecordError, record

    if not session and not since:
        raise typer.BadParameter("give --session or --since")
    name = name or out.stem

    async def go() -> dict[str, Any]:
        if url:
            async with _client(url) as c:
                r = await c.post(
                    "/api/scenarios/record",
                    json={
                        "name": name,
                        "session": session,
                        "municipality": municipality,
                        "since": since.isoformat() if since else None,
                        "until": until.isoformat() if until else None,
                    },
                )
                if r.status_code >= 400:
                    raise RecordError(r.json().get("detail", r.text))
                return r.json()["scenario"]
        async with _in_process(serve=False) as rt:
            sc = await record(rt, name=name, since=since, until=until, session=session, municipality=municipality)
            return sc.dump()

    try:
        doc = asyncio.run(go())
    except (RecordError, model.ScenarioError) as e:
        typer.echo(str(e), err=True)
        raise typer.Exit(1) from None
    text = (
        json.dumps(doc, indent=2, ensure_ascii=False)
        if out.suffix == ".json"
        else yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=110)
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    typer.echo(f"wrote {out}: {len(doc['steps'])} steps, {len(doc.get('variables') or {})} variables")


def readiness_command(
    municipality: Annotated[str | None, typer.Option(help="the municipality's CVR")] = None,
    out: Annotated[Path, typer.Option(help="folder for readiness.html, readiness.json, readiness.xml")] = Path(
        "readiness-report"
    ),
    target: Annotated[str | None, typer.Option(help="send KY's calls to this URL instead of the routes")] = None,
    within: Annotated[float, typer.Option(help="seconds to wait for the debtor system's calls and messages")] = 30.0,
    all_: Annotated[
        bool,
        typer.Option("--all", help="every municipality of the route table: <out>/<cvr>/… and <out>/summary.*"),
    ] = False,
    parallel: Annotated[int, typer.Option(min=1, max=16, help="with --all: municipalities checked at once")] = 4,
    evidence_window: Annotated[
        float, typer.Option(help="days: a write-off (1d) booked this long ago still counts; 0 = this run only")
    ] = 30.0,
    url: UrlOpt = None,
) -> None:
    """Run the SA 05 Debitor readiness checklist (1a–1e, 2, 3) against the municipality's debtor system
    and write the report (HTML, JSON, JUnit); exit code 0 = every item passed. With --all, for every
    municipality, with one summary; exit code 0 = all passed."""
    from simulator.scenarios.readiness import ITEMS, Readiness

    if all_:
        if municipality or target:
            raise typer.BadParameter(
                "--all runs every municipality on its own routes: leave out --municipality/--target"
            )
        _readiness_all(out, within, evidence_window, parallel, url)
    if not municipality:
        raise typer.BadParameter("give --municipality <CVR>, or --all")

    async def go() -> dict[str, Any]:
        with _Display(7, f"readiness {municipality}") as show:
            if url:
                return await _remote(
                    url,
                    "/api/readiness/runs",
                    {
                        "municipality": municipality,
                        "target": target,
                        "within_s": within,
                        "evidence_window_days": evidence_window,
                    },
                    show,
                )
            async with _in_process() as rt:
                return (
                    await Readiness(
                        rt,
                        municipality,
                        target=target,
                        within_s=within,
                        evidence_window_days=evidence_window,
                        on_progress=show,
                    ).execute()
                ).as_dict()

    try:
        result = asyncio.run(go())
    except ValueError as e:
        typer.echo(str(e), err=True)
        raise typer.Exit(2) from None
    for it in result["items"]:
        mark = typer.style(f"{it['verdict'].upper():5}", fg="green" if it["verdict"] == "pass" else "red")
        typer.echo(f"{mark} {it['id']:3} {ITEMS[it['id']]}")
        if it["verdict"] != "pass":
            typer.echo(
                f"        {it.get('summary') or ''}\n        missing: {it['missing']}\n        fix:     {it['fix']}"
            )
    _write(result, out / "readiness.json", out / "readiness.xml", out / "readiness.html")
    if result.get("session"):
        typer.echo(
            f"session {result['session']}  (keep this run as a scenario: "
            f"simulator scenario record --session {result['session']} -o my.yaml)"
        )
    mode, window = result.get("validation") or "strict", result.get("evidence_window") or "this run only"
    typer.echo(
        f"{result['verdict'].upper()}: municipality {municipality} (validated {mode}ly; evidence window: {window})"
    )
    raise typer.Exit(0 if result["verdict"] == "pass" else 1)


def _readiness_all(out: Path, within: float, evidence_window: float, parallel: int, url: str | None) -> None:
    """`readiness --all`: every municipality, `parallel` at a time, one line each as it finishes, one summary."""
    from simulator.scenarios.many import run_many, write_summary
    from simulator.scenarios.readiness import Readiness

    def done(row: dict[str, Any]) -> None:
        verdict = row["verdict"]
        mark = typer.style(f"{verdict.upper():5}", fg="green" if verdict == "pass" else "red")
        line = f"{mark} {row['municipality']} {row.get('municipality_name') or ''}"
        if row.get("error"):
            line += f"\n        {row['error']}"
        for f in row.get("failed") or []:
            line += f"\n        {f['id']}: {f['missing']}"
        typer.echo(line)

    async def go() -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
        if url:
            async with _client(url) as c:
                r = await c.get("/api/municipalities")
                r.raise_for_status()
                municipalities = [(m["cvr"], m["name"]) for m in r.json()]

            def remote(cvr: str):
                return _remote(
                    url,
                    "/api/readiness/runs",
                    {"municipality": cvr, "within_s": within, "evidence_window_days": evidence_window},
                    lambda ev: None,
                )

            return await run_many(municipalities, remote, concurrency=parallel, on_done=done)
        async with _in_process() as rt:

            async def local(cvr: str) -> dict[str, Any]:
                return (
                    await Readiness(rt, cvr, within_s=within, evidence_window_days=evidence_window).execute()
                ).as_dict()

            municipalities = [(m.cvr, m.name) for m in rt.routes.municipalities.values()]
            return await run_many(municipalities, local, concurrency=parallel, on_done=done)

    try:
        summary, results = asyncio.run(go())
    except Exception as e:  # noqa: BLE001 - the simulator could not be reached or started
        typer.echo(f"readiness --all could not run: {e}", err=True)
        raise typer.Exit(2) from None
    written = write_summary(summary, results, out)
    typer.echo("wrote " + ", ".join(str(p) for p in written if p.parent == out))
    c = summary["counts"]
    failed = [m["municipality"] for m in summary["municipalities"] if m["verdict"] != "pass"]
    typer.echo(
        f"{summary['verdict'].upper()}: {c['pass']} of {len(summary['municipalities'])} municipalities passed"
        + (f"; not ready: {', '.join(failed)}" if failed else "")
    )
    raise typer.Exit(0 if summary["verdict"] == "pass" else 1)
