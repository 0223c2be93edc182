"""CI hooks for a vendor's own test suite, in any language: `simulator wait-healthy` (block until a running
simulator answers `/healthz` with ok) and `simulator verify` (the CLI twin of `POST /api/verify`: exit 0 when
the recorded traffic matches, 1 when it does not, with an optional JUnit file). docs/ci.md shows them in jobs."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

from simulator.remote import UrlOption, admin_request, simulator_url
from simulator.scenarios.report import write_reports

Criterion = Annotated[str | None, typer.Option(show_default=False)]


def wait_healthy_command(
    url: UrlOption = None,
    timeout: Annotated[float, typer.Option(help="give up after this many seconds")] = 60.0,
    interval: Annotated[float, typer.Option(help="seconds between attempts")] = 0.5,
) -> None:
    """Wait until the simulator at --url (or SIMULATOR_URL) reports healthy on /healthz (database, broker and
    every component ok). Exit 0 when it does, 1 when --timeout passes first."""
    base = simulator_url(url)
    started = time.monotonic()
    last = "no answer yet"
    while True:
        try:
            r = httpx.get(f"{base}/healthz", timeout=max(min(interval * 4, 10.0), 1.0))
            if r.status_code == 200 and r.json().get("ok"):
                typer.echo(f"healthy: {base} after {time.monotonic() - started:.1f} s")
                return
            down = [k for k, v in r.json().items() if isinstance(v, dict) and v.get("ok") is False]
            last = f"HTTP {r.status_code}, not ok: {', '.join(down) or 'see /healthz'}"
        except (httpx.HTTPError, ValueError) as e:
            last = f"{type(e).__name__}: {e}"
        if time.monotonic() - started + interval > timeout:
            typer.echo(f"not healthy after {timeout:g} s: {base} ({last})", err=True)
            raise typer.Exit(1)
        time.sleep(interval)


def verify_command(
    url: UrlOption = None,
    service: Criterion = None,
    operation: Criterion = None,
    municipality: Criterion = None,
    system_uuid: Criterion = None,
    status: Annotated[str | None, typer.Option(help="ok | fault", show_default=False)] = None,
    fault_code: Criterion = None,
    decision: Annotated[
        str | None, typer.Option(help="handled | routed | refused | provider-fault | injected", show_default=False)
    ] = None,
    origin: Criterion = None,
    session: Annotated[str | None, typer.Option(help="the X-Simulator-Session tag", show_default=False)] = None,
    correlation_id: Criterion = None,
    since: Annotated[str | None, typer.Option(help="ISO 8601 time; only exchanges from then on")] = None,
    until: Annotated[str | None, typer.Option(help="ISO 8601 time; only exchanges before then")] = None,
    count: Annotated[int | None, typer.Option(min=0, help="exactly this many (default: at least one)")] = None,
    junit: Annotated[Path | None, typer.Option(help="write the verdict as JUnit XML here")] = None,
    name: Annotated[str | None, typer.Option(help="the JUnit testcase name (default: the criteria)")] = None,
) -> None:
    """Was a call matching these criteria recorded (exactly --count times)? Asks POST /api/verify of the
    simulator at --url (or SIMULATOR_URL). Exit 0 = yes, 1 = no (and why), 2 = the simulator is unreachable."""
    criteria = {
        k: v
        for k, v in dict(
            service=service,
            operation=operation,
            municipality=municipality,
            system_uuid=system_uuid,
            status=status,
            fault_code=fault_code,
            decision=decision,
            origin=origin,
            session=session,
            correlation_id=correlation_id,
            since=since,
            until=until,
        ).items()
        if v is not None
    }
    started = time.monotonic()
    answer = admin_request("POST", "/verify", url, json=criteria | ({"count": count} if count is not None else {}))
    label = name or " ".join(f"{k}={v}" for k, v in criteria.items()) or "any exchange"
    message = _explain(answer, label)
    if junit is not None:
        write_reports(_as_result(answer, label, message, time.monotonic() - started), junit=junit)
    typer.echo(message, err=not answer["ok"])
    if not answer["ok"]:
        raise typer.Exit(1)


def _explain(answer: dict[str, Any], label: str) -> str:
    head = f"{'PASS' if answer['ok'] else 'FAIL'} {label}: found {answer['found']}, expected {answer['expected']}"
    if answer["ok"]:
        return head
    per = answer.get("matches_per_criterion") or {}
    lines = [head]
    if per:
        lines.append("  each criterion alone matches: " + ", ".join(f"{k}: {n}" for k, n in per.items()))
    for e in answer.get("recent") or []:  # absent fields (e.g. no operation on a malformed call) are left out
        shown = [e.get("started_at"), f"{e.get('service')}/{e.get('operation') or '?'}", e.get("municipality")]
        shown += [f"{e.get('decision')}/{e.get('status')}", e.get("fault_code")]
        lines.append("  recent: " + " ".join(str(x) for x in shown if x))
    return "\n".join(lines)


def _as_result(answer: dict[str, Any], label: str, message: str, seconds: float) -> dict[str, Any]:
    """The verdict in the shape of a scenario run, so the scenario reports' JUnit writer renders it."""
    return {
        "scenario": "simulator verify",
        "steps": [
            {
                "index": 1,
                "label": label,
                "verdict": "pass" if answer["ok"] else "fail",
                "message": "" if answer["ok"] else message,
                "exchanges": [],
                "duration_ms": seconds * 1000,
            }
        ],
    }
