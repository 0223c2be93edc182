"""Readiness for many municipalities at once (``simulator readiness --all``): every municipality of the route
table, a bounded number at a time, and one summary (JSON, JUnit, HTML) next to each municipality's own
report (written by `simulator.scenarios.report`).

Runs of different municipalities can share one simulator: each run tags its calls and messages with its own
session and reads only its municipality's traffic (`simulator.scenarios.engine`).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, select_autoescape
from lxml import etree

from simulator import __version__
from simulator.scenarios.readiness import ITEMS
from simulator.scenarios.report import to_junit, write_reports

RunOne = Callable[[str], Awaitable[dict[str, Any]]]
"""Runs readiness for one municipality (CVR) and returns its result (ReadinessReport.as_dict())."""


async def run_many(
    municipalities: list[tuple[str, str]],
    run_one: RunOne,
    *,
    concurrency: int = 4,
    on_done: Callable[[dict[str, Any]], None] | None = None,
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """Readiness for every (CVR, name), at most `concurrency` at a time; returns (summary, result per CVR). A run
    that cannot finish (the simulator refuses it, or it breaks) counts as an error in the summary."""
    started = datetime.now(UTC)
    gate = asyncio.Semaphore(max(1, concurrency))
    results: dict[str, dict[str, Any]] = {}
    rows: dict[str, dict[str, Any]] = {}

    async def one(cvr: str, name: str) -> None:
        async with gate:
            try:
                result = await run_one(cvr)
            except Exception as e:  # noqa: BLE001 - reported as this municipality's error, the others go on
                row = {"municipality": cvr, "municipality_name": name, "verdict": "error", "error": _reason(e)}
            else:
                results[cvr] = result
                row = summary_row(result)
            rows[cvr] = row
            if on_done is not None:
                on_done(row)

    await asyncio.gather(*(one(cvr, name) for cvr, name in municipalities))
    ordered = [rows[cvr] for cvr, _ in municipalities]
    counts = {v: sum(1 for r in ordered if r["verdict"] == v) for v in ("pass", "fail", "error")}
    summary = {
        "kind": "readiness-summary",
        "checklist": "SA 05 Debitor",
        "started_at": started.isoformat(timespec="seconds"),
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "concurrency": max(1, concurrency),
        "verdict": "pass" if ordered and counts["pass"] == len(ordered) else "fail",
        "counts": counts,
        "items": ITEMS,
        "municipalities": ordered,
    }
    return summary, results


def _reason(e: Exception) -> str:
    text = str(getattr(e, "message", None) or e)
    return text if isinstance(e, ValueError) else f"{type(e).__name__}: {text}"


def summary_row(result: dict[str, Any]) -> dict[str, Any]:
    """One municipality's line of the summary: verdict per item, and what is missing where it failed."""
    cvr = result["municipality"]
    return {
        "municipality": cvr,
        "municipality_name": result.get("municipality_name"),
        "debtor_system": result.get("debtor_system"),
        "verdict": result.get("verdict"),
        "session": result.get("session"),
        "started_at": result.get("started_at"),
        "finished_at": result.get("finished_at"),
        "items": {it["id"]: it["verdict"] for it in result.get("items") or []},
        "failed": [
            {"id": it["id"], "missing": it.get("missing"), "fix": it.get("fix")}
            for it in result.get("items") or []
            if it["verdict"] != "pass"
        ],
        "report": f"{cvr}/readiness.html",
    }


# -- the summary's formats ---------------------------------------------------------------------------------


def summary_junit(summary: dict[str, Any], results: dict[str, dict[str, Any]]) -> bytes:
    """One JUnit document: each municipality's own testsuite (as its report has it), and a suite with one
    error for a municipality whose run could not finish."""
    suites = etree.Element("testsuites", name=f"{summary['checklist']} readiness")
    for row in summary["municipalities"]:
        result = results.get(row["municipality"]) or {  # a run that could not finish: one erroneous step
            "scenario": f"readiness {row['municipality']}",
            "municipality": row["municipality"],
            "started_at": summary["started_at"],
            "steps": [
                {"index": 1, "label": "readiness run", "verdict": "error", "message": row["error"], "exchanges": []}
            ],
        }
        suites.extend(etree.fromstring(to_junit(result)).findall("testsuite"))
    for attr in ("tests", "failures", "errors", "skipped"):
        suites.set(attr, str(sum(int(s.get(attr) or 0) for s in suites)))
    etree.indent(suites, space="  ")
    return etree.tostring(suites, xml_declaration=True, encoding="utf-8", pretty_print=True)


_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>{{ title }}</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:1200px;color:#1d232a;padding:0 1rem}
h1{font-size:1.5rem;margin-bottom:.2rem} .meta{color:#555}
table{border-collapse:collapse;width:100%;margin:.8rem 0} caption{text-align:left;font-weight:600;padding:.3rem 0}
td,th{border:1px solid #d5dae0;padding:.35rem .5rem;text-align:left;vertical-align:top} thead th{background:#f2f4f7}
.v{font-weight:700;text-transform:uppercase;font-size:.8rem;padding:.1rem .45rem;border-radius:3px}
.pass{background:#d8f3dc;color:#1b5e20} .fail,.error{background:#fde2e1;color:#8e1b12}
.missing{color:#555;font-size:.9em}
</style></head><body>
<h1>{{ title }}</h1>
<p class="meta">{{ s.municipalities|length }} municipalities, {{ s.concurrency }} at a time
· started {{ s.started_at }}, finished {{ s.finished_at }} · KY debtor simulator {{ version }}</p>
<p>Verdict: <span class="v {{ s.verdict }}">{{ s.verdict }}</span> — {{ s.counts.pass }} passed,
{{ s.counts.fail }} failed, {{ s.counts.error }} could not run.</p>
<table>
<caption>Verdict per municipality and readiness item (links open the municipality's report)</caption>
<thead><tr><th scope="col">Municipality</th><th scope="col">Debtor system</th><th scope="col">Verdict</th>
{% for id, title in s['items'].items() %}<th scope="col" title="{{ title }}">{{ id }}</th>{% endfor %}
<th scope="col">What is missing</th></tr></thead>
<tbody>{% for m in s.municipalities %}<tr>
<th scope="row">{% if m.verdict != 'error' %}<a href="{{ m.report }}">{{ m.municipality }}</a>
{%- else %}{{ m.municipality }}{% endif %}
{{ m.municipality_name or '' }}</th>
<td>{{ m.debtor_system or '—' }}</td><td><span class="v {{ m.verdict }}">{{ m.verdict }}</span></td>
{% for id in s['items'] %}{% set v = (m['items'] or {}).get(id) %}
<td>{% if v %}<a href="{{ m.report }}#item-{{ id }}" class="v {{ v }}">{{ v }}</a>{% else %}—{% endif %}</td>
{% endfor %}<td class="missing">{% if m.error %}{{ m.error }}{% endif %}
{% for f in m.failed or [] %}<b>{{ f.id }}</b>: {{ f.missing }}<br>{% endfor %}</td>
</tr>{% endfor %}</tbody>
</table>
</body></html>
"""

_env = Environment(autoescape=select_autoescape(default=True, default_for_string=True))


def summary_html(summary: dict[str, Any]) -> str:
    title = f"{summary['checklist']} readiness — {len(summary['municipalities'])} municipalities"
    return _env.from_string(_TEMPLATE).render(s=summary, title=title, version=__version__)


def write_summary(summary: dict[str, Any], results: dict[str, dict[str, Any]], out: Path) -> list[Path]:
    """Each municipality's report in `out/<cvr>/readiness.{html,json,xml}` and the summary in
    `out/summary.{html,json,xml}`; the paths written."""
    written: list[Path] = []
    for cvr, result in results.items():
        folder = out / cvr
        written += write_reports(
            result,
            json_path=folder / "readiness.json",
            junit=folder / "readiness.xml",
            html=folder / "readiness.html",
        )
    out.mkdir(parents=True, exist_ok=True)
    for name, data in (
        ("summary.json", json.dumps(summary, indent=2, ensure_ascii=False, default=str).encode()),
        ("summary.xml", summary_junit(summary, results)),
        ("summary.html", summary_html(summary).encode()),
    ):
        (out / name).write_bytes(data)
        written.append(out / name)
    return written
