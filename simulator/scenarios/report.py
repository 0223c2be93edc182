"""Reports of a scenario run or a readiness check: JSON, JUnit XML (one testcase per step or item) and
one self-contained HTML file (inline CSS, no external assets)."""

from __future__ import annotations

import json
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, select_autoescape
from lxml import etree

from simulator import __version__


def to_json(result: dict[str, Any]) -> str:
    return json.dumps(result, indent=2, ensure_ascii=False, default=str)


def _difference_lines(item: dict[str, Any]) -> list[str]:
    return [
        f"{d['field']}: expected {d['expected']}, actual {d['actual']}"
        + (f" (exchange {d['source']})" if d.get("source") else "")
        for d in item.get("differences") or []
    ]


def _cases(result: dict[str, Any]) -> list[dict[str, Any]]:
    """(name, verdict, message, details, seconds) per testcase."""
    if result.get("kind") == "readiness":
        out = []
        for it in result["items"]:
            details = _difference_lines(it)
            details += [f"evidence: {json.dumps(e, default=str)}" for e in it["evidence"]]
            details += [f"link: {link}" for link in it.get("links") or []]
            for s in it.get("steps") or []:
                if s.get("diff"):
                    details.append(f"diff of step {s['index']}:\n{s['diff']}")
            message = ""
            if it["verdict"] != "pass":
                message = f"{it.get('summary') or ''} — missing: {it['missing']} — fix: {it['fix']}"
            out.append(
                {
                    "name": f"{it['id']} {it['title']}",
                    "verdict": it["verdict"],
                    "message": message,
                    "details": "\n".join(details),
                    "seconds": sum((s.get("duration_ms") or 0) for s in it.get("steps") or []) / 1000,
                }
            )
        return out
    return [
        {
            "name": f"{s['index']:02d} {s['label']}",
            "verdict": s["verdict"],
            "message": s.get("message") or "",
            "details": "\n".join(
                [
                    f"exchange {e['id']} {e['service']}/{e['operation']} {e['decision']}/{e['status']}"
                    for e in s["exchanges"]
                ]
                + ([s["diff"]] if s.get("diff") else [])
            ),
            "seconds": (s.get("duration_ms") or 0) / 1000,
        }
        for s in result["steps"]
    ]


def junit_timestamp(value: str | None) -> str:
    """An ISO time as the strict JUnit schemas want it: local date and time to the second, no fraction, no
    offset (the time is UTC; e.g. ``2026-11-30T05:12:00``)."""
    try:
        t = datetime.fromisoformat(value) if value else datetime.now(UTC)
    except ValueError:
        t = datetime.now(UTC)
    if t.tzinfo is not None:
        t = t.astimezone(UTC).replace(tzinfo=None)
    return t.replace(microsecond=0).isoformat()


def to_junit(result: dict[str, Any]) -> bytes:
    """JUnit XML that the strict Apache Ant schema (and Jenkins' junit-10.xsd) accepts: every required attribute
    (``hostname``, ``id``, ``package``, ``timestamp`` without fraction or offset), ``properties``,
    ``system-out`` and ``system-err`` on the suite, a ``type`` on each failure. A skipped step or item (not
    demonstrated because another failed) is a failure of type ``skipped`` — the Ant schema has no skipped."""
    cases = _cases(result)
    readiness = result.get("kind") == "readiness"
    name = "readiness " + result["municipality"] if readiness else result["scenario"]
    failed = sum(1 for c in cases if c["verdict"] in ("fail", "skipped"))
    suites = etree.Element("testsuites")  # the Ant schema allows no attributes here
    suite = etree.SubElement(
        suites,
        "testsuite",
        name=name,
        package="sa05-readiness" if readiness else "scenario",
        id="0",
        hostname=socket.gethostname() or "localhost",
        tests=str(len(cases)),
        failures=str(failed),
        errors=str(sum(1 for c in cases if c["verdict"] == "error")),
        time=f"{sum(c['seconds'] for c in cases):.3f}",
        timestamp=junit_timestamp(result.get("started_at")),
    )
    props = etree.SubElement(suite, "properties")
    for key in ("municipality", "session", "target", "run_id", "debtor_system", "validation", "evidence_window"):
        if result.get(key):
            etree.SubElement(props, "property", name=key, value=str(result[key]))
    out: list[str] = []
    for c in cases:
        tc = etree.SubElement(suite, "testcase", classname=name, name=c["name"], time=f"{c['seconds']:.3f}")
        if c["verdict"] in ("fail", "error", "skipped"):
            tag = "error" if c["verdict"] == "error" else "failure"
            el = etree.SubElement(tc, tag, message=c["message"][:1000], type=c["verdict"])
            el.text = c["message"] + ("\n\n" + c["details"] if c["details"] else "")
        elif c["details"]:
            out.append(f"[{c['name']}]\n{c['details']}")
    if readiness:
        out.insert(
            0, f"validation: {result.get('validation') or 'strict'}; evidence window: {result.get('evidence_window')}"
        )
    etree.SubElement(suite, "system-out").text = "\n\n".join(out)
    etree.SubElement(suite, "system-err").text = ""
    return etree.tostring(suites, xml_declaration=True, encoding="utf-8", pretty_print=True)


_TEMPLATE = """{%- macro step(s) -%}
<div><span class="v {{ s.verdict }}">{{ s.verdict }}</span> {{ s.label }}{% if s.message %}
— {{ s.message }}{% endif %}
{% for e in s.exchanges %}<br><code>exchange {{ e.id }} · {{ e.started_at }}
· {{ e.service }}/{{ e.operation }} ·
{{ e.decision }}/{{ e.status }}{% if e.fault_code %} {{ e.fault_code }}{% endif %}
{% if e.route_target %} → {{ e.route_target }}{% endif %}</code>{% endfor %}
{% if s.checks %}<table><tr><th>Field (XPath)</th><th>Expected</th><th>Actual</th><th></th></tr>
{% for c in s.checks %}<tr><td><code>{{ c.path }}</code></td><td>{{ c.expected }}</td>
<td>{{ c.actual if c.actual is not none else '(missing)' }}</td>
<td><span class="v {{ 'pass' if c.ok else 'fail' }}">{{ 'ok' if c.ok else 'diff' }}</span></td>
</tr>{% endfor %}</table>{% endif %}
{% if s.diff %}<details open><summary>Expected vs actual XML</summary>
<pre>{% for line in s.diff.splitlines() %}<span class="{{ line | diffclass }}">{{ line }}</span>
{% endfor %}</pre></details>{% endif %}
{% if s.actual_xml and s.verdict != 'pass' %}<details><summary>Actual XML</summary>
<pre>{{ s.actual_xml }}</pre></details>{% endif %}
</div>
{%- endmacro -%}
<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>{{ title }}</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:1100px;color:#1d232a;padding:0 1rem}
h1{font-size:1.5rem;margin-bottom:.2rem} h2{font-size:1.15rem;margin:1.6rem 0 .5rem}
.meta{color:#555} table{border-collapse:collapse;width:100%;margin:.5rem 0}
td,th{border:1px solid #d5dae0;padding:.35rem .5rem;text-align:left;vertical-align:top}
th{background:#f2f4f7}
.v{font-weight:700;text-transform:uppercase;font-size:.8rem;padding:.1rem .45rem;border-radius:3px}
.pass{background:#d8f3dc;color:#1b5e20} .fail,.error{background:#fde2e1;color:#8e1b12}
.skipped,.running{background:#eceff3;color:#444} .big{font-size:1.1rem}
pre{background:#f7f8fa;border:1px solid #e1e4e8;padding:.6rem;overflow:auto;font-size:12px;max-height:28rem}
.add{color:#1b5e20} .del{color:#8e1b12} details{margin:.3rem 0} code{font-size:12px}
.fix{background:#fff8e1;border-left:4px solid #f2b705;padding:.4rem .6rem;margin:.4rem 0}
</style></head><body>
<h1>{{ title }}</h1>
<p class="meta">{{ subtitle }}<br>started {{ r.started_at }}{% if r.finished_at %}
, finished {{ r.finished_at }}{% endif %}
 · KY debtor simulator {{ version }}{% if r.kind == 'readiness' %}<br>
Every call was validated <b class="validation">{{ r.validation or 'strict' }}</b>ly against the contracts;
evidence window for write-offs: {{ r.evidence_window or 'this run only' }}{% endif %}</p>
<p class="big">Verdict: <span class="v {{ r.verdict }}">{{ r.verdict }}</span></p>
{% if r.kind == 'readiness' %}
<table><tr><th>Item</th><th>The debtor system …</th><th>Verdict</th>
<th>Summary / what is missing</th></tr>
{% for it in r['items'] %}<tr><td><a href="#item-{{ it.id }}">{{ it.id }}</a></td><td>{{ it.title }}</td>
<td><span class="v {{ it.verdict }}">{{ it.verdict }}</span></td>
<td>{{ it.summary or it.missing }}</td>
</tr>{% endfor %}
</table>
{% for it in r['items'] %}
<h2 id="item-{{ it.id }}">{{ it.id }} — {{ it.title }}
<span class="v {{ it.verdict }}">{{ it.verdict }}</span></h2>
{% if it.verdict != 'pass' %}<div class="fix"><b>Missing:</b> {{ it.missing }}<br>
<b>How to fix:</b> {{ it.fix }}</div>{% endif %}
{% if it.fejl %}<p><b>FejlKode / FejlTekst:</b> {% for f in it.fejl %}<code>{{ f.FejlKode }}</code> {{ f.FejlTekst }}
{% if not loop.last %}; {% endif %}{% endfor %}</p>{% endif %}
{% if it.differences %}<table class="differences"><tr><th>Field</th><th>Expected (KY's ledger)</th>
<th>Actual (debtor system)</th><th>From</th></tr>
{% for d in it.differences %}<tr><td><code>{{ d.field }}</code></td><td>{{ d.expected }}</td><td>{{ d.actual }}</td>
<td>{% if d.source %}<a href="/ui/traffic/{{ d.source }}">{{ d.source[:8] }}</a>{% endif %}</td></tr>{% endfor %}
</table>{% endif %}
{% if it.links %}<p class="meta">Exchanges and messages: {% for link in it.links %}
<a href="{{ link }}">{{ link.split('/')[-1][:8] }}</a>
{% endfor %}</p>{% endif %}
{% if it.evidence %}<details {% if it.verdict != 'pass' %}open{% endif %}>
<summary>Evidence ({{ it.evidence|length }})</summary>
<pre>{% for e in it.evidence %}{{ e | tojson(indent=1) }}
{% endfor %}</pre></details>{% endif %}
{% for s in it.steps %}{{ step(s) }}{% endfor %}
{% endfor %}
{% else %}
<table><tr><th>#</th><th>Step</th><th>Verdict</th><th>Time</th><th>Message</th></tr>
{% for s in r.steps %}<tr><td><a href="#step-{{ s.index }}">{{ s.index }}</a></td><td>{{ s.label }}</td>
<td><span class="v {{ s.verdict }}">{{ s.verdict }}</span></td><td>{{ '%.0f' % s.duration_ms }} ms</td>
<td>{{ s.message or '' }}</td></tr>{% endfor %}</table>
{% for s in r.steps %}
<h2 id="step-{{ s.index }}">{{ s.index }}. {{ s.label }}</h2>{{ step(s) }}{% endfor %}
<h2>Variables of this run</h2><pre>{{ r.variables | tojson(indent=1) }}</pre>
{% endif %}
</body></html>

"""

_env = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
_env.filters["diffclass"] = lambda line: "add" if line.startswith("+") else "del" if line.startswith("-") else ""


def to_html(result: dict[str, Any]) -> str:
    if result.get("kind") == "readiness":
        title = f"SA 05 Debitor readiness — {result['municipality_name']} ({result['municipality']})"
        subtitle = f"Debtor system: {result.get('debtor_system') or '?'}" + (
            f" · session {result['session']}" if result.get("session") else ""
        )
    else:
        title = f"Scenario {result['scenario']}"
        subtitle = f"Municipality {result['municipality']} · session {result['session']}" + (
            f" · target {result['target']}" if result.get("target") else ""
        )
    return _env.from_string(_TEMPLATE).render(r=result, title=title, subtitle=subtitle, version=__version__)


def write_reports(
    result: dict[str, Any],
    *,
    json_path: Path | None = None,
    junit: Path | None = None,
    html: Path | None = None,
) -> list[Path]:
    written = []
    for path, render in ((json_path, to_json), (junit, to_junit), (html, to_html)):
        if path is None:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        data = render(result)
        path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
        written.append(path)
    return written
